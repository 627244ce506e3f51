// Every word the lobby page shows, in one place: one table per language, keyed by short ids. To add a
// language, copy the `de` table, translate its values and add it to TABLES (README.md, "Translating").
//
// A value is a string with {placeholders}, or, where a number decides the wording, an object of plural forms
// (Intl.PluralRules categories: zero, one, two, few, many, other) chosen by the `count` parameter. Numbers in
// parameters are formatted for the language (Intl.NumberFormat).
//
// The language is the first of navigator.languages that has a table (English when none has); `?lang=de` in the
// page's address overrides that.

/**
 * @typedef {string | {zero?: string, one?: string, two?: string, few?: string, many?: string, other: string}} Entry
 * @typedef {Record<string, string | number | Node>} Params
 */

const en = {
  // Header
  'group.title': 'The group you are in: only its members see you',
  'self': 'You are {name}',
  'self.title': 'The name the others see',
  'self.renamed': 'Someone here is already called “{asked}”, so the others see you as “{name}”.',
  'self.renamedToast': 'Someone here is already called “{asked}”: the others see you as “{name}”.',
  'status.connecting': 'Connecting…',
  'status.online': 'Online',
  'status.reconnecting': 'Reconnecting…',
  'status.reconnectingTitle': 'The lobby server is unreachable. Open connections keep working; requests need the server.',
  'status.offline': 'Offline',
  'status.offlineReason': 'Offline: {reason}',
  'status.notConnected': 'Not connected',
  'controls.toggle': 'Room & name',
  'room.label': 'Room',
  'room.rule': 'letters, digits, - _ .',
  'room.placeholder': 'a room name',
  'room.join': 'Join',
  'name.label': 'Your name',
  'name.guest': 'Guest {n}',
  'name.fixed': 'Your name comes from your join link',
  'anonymous': 'Anonymous',
  'someone': 'Someone',
  'theOther': 'The other person',
  'they': 'They',
  'them': 'them',
  'fromThem': 'them',
  'thisPerson': 'this person',

  // Banners
  'offline.retry': 'Retry now',
  'offline.still': 'Open conversations still work: chat and files go directly between you. Finding people and new requests need the server.',
  'offline.refused': 'The lobby server refused this page. {still}',
  'offline.refusedReason': 'The lobby server refused this page ({reason}). {still}',
  'offline.retryIn': 'The lobby server is unreachable. {still} Trying again in {count} s.',
  'offline.reconnecting': 'The lobby server is unreachable. {still} Reconnecting…',
  'roomError.title': 'This link’s room name is not valid.',
  'roomError.nothing': 'Nothing was joined: choose where to go.',
  'roomError.network': 'Go to your network',
  'roomError.fix': 'Join “{room}” instead',
  'roomError.rule': 'A room name has 1 to 64 characters, only letters A–Z and a–z, digits, “-”, “_” and “.”.',
  'roomError.tooLong': { one: 'It is {count} character long. {rule}', other: 'It is {count} characters long. {rule}' },
  'roomError.contains': '“{room}” contains {chars}. {rule}',
  'roomError.space': 'a space',
  'request.banner': '{name} wants to connect with you.',
  'request.failed': 'Could not request: {error}',

  // Groups
  'group.none.label': 'No room',
  'group.none.heading': 'Not in a room',
  'group.none.about': 'The link named a room that cannot exist.',
  'group.lobby.label': 'Public lobby',
  'group.lobby.heading': 'In the public lobby',
  'group.lobby.aboutNetwork': 'This server does not group people by network: everyone who opens the page without a room is here. To meet only the people you invite, make a private room.',
  'group.lobby.about': 'Everyone who opens the page without a room on a server without network groups is here. To meet only the people you invite, make a private room.',
  'group.lobby.empty': 'Nobody has opened the page without a room yet.',
  'group.network.label': 'Your network',
  'group.network.heading': 'People on your network',
  'group.network.about': 'Everyone who opens this page from your network (the same public address: your Wi-Fi, your office) sees you here, with no link. To meet someone elsewhere, make a private room.',
  'group.network.empty': 'People on your network appear here when they open this page.',
  'group.private.label': 'Private room',
  'group.private.heading': 'In this private room',
  'group.private.about': 'Only people with its link can join: its name cannot be guessed.',
  'group.room.label': 'Room “{room}”',
  'group.room.heading': 'In this room',
  'group.room.about': 'Anyone who knows the name “{room}” can join. For a room nobody can guess, make a private room.',
  'group.link': 'Send the link to this room to someone — they appear here when they open it.',
  'group.newPrivate': 'New private room',
  'group.newPrivateTitle': 'A room with an unguessable name: only people you give its link to can join',
  'group.invite': 'Invite',
  'group.inviteTitle': 'The link and QR code of this room',
  'group.goNetwork': 'Your network',
  'group.goNetworkTitle': 'Back to the people on your network',
  'group.goLobby': 'Public lobby',
  'group.goLobbyTitle': 'Back to the public lobby',
  'title': '{label} · p2plobby',
  'title.count': '({count}) {label} · p2plobby',

  // Members
  'members.label': 'People',
  'members.count': { one: '{count} member online', other: '{count} members online' },
  'members.open': 'Open the conversation with {name}',
  'members.unread': { one: '{count} unread message', other: '{count} unread messages' },
  'members.empty': 'Nobody else is here yet.',
  'members.hint': 'Nothing connects without the other person’s consent. Once connected, chat and files go directly between your browsers, not through the server — or through its relay when your networks allow nothing else.',
  'notify.ask': 'Get a notification when someone wants to connect or send you files.',
  'notify.on': 'Turn on',
  'notify.request': '{name} wants to connect',
  'notify.requestBody': 'Open p2plobby to accept or decline.',
  'notify.offerFile': '{name} wants to send you “{file}”',
  'notify.offerFiles': { one: '{name} wants to send you {count} file', other: '{name} wants to send you {count} files' },
  'notify.offerBody': '{size}. Open p2plobby to accept or decline.',

  // Network settings and check
  'network.title': 'Network',
  'relay.label': 'Hide my IP address (relay only)',
  'relay.title': 'Every connection goes through the server’s relay (TURN), so the other person never learns your IP address. Applies to new connections; a little slower.',
  'relay.on': 'New connections go through the relay: the other side will not see your IP address.',
  'relay.off': 'New connections go directly where your networks allow it.',
  'netcheck.button': 'Check connection',
  'netcheck.checking': 'Checking…',
  'netcheck.lobbyOK': 'Lobby: reachable, round trip {ms} ms',
  'netcheck.lobbyFailed': 'Lobby: unreachable ({error})',
  'netcheck.stunMapped': 'STUN {server}: you are {address}',
  'netcheck.stunFailed': 'STUN {server}: no answer ({error})',
  'netcheck.stunAnswered': 'STUN {server}: answered',
  'netcheck.mapping': 'NAT mapping: {mapping}',
  'netcheck.turnOK': 'TURN over {transport} {server}: works ({ms} ms)',
  'netcheck.turnFailed': 'TURN over {transport} {server}: failed ({error})',
  'netcheck.verdict.cannot connect': 'Cannot connect',
  'netcheck.verdict.direct connections likely': 'Direct connections likely',
  'netcheck.verdict.relay will be used': 'Relay will be used',
  'netcheck.mapping.none': 'none (a public address)',
  'netcheck.mapping.endpoint-independent': 'endpoint-independent',
  'netcheck.mapping.endpoint-dependent': 'endpoint-dependent (symmetric)',
  'netcheck.mapping.unknown': 'unknown',
  'netcheck.reason.unreachable': 'the lobby is unreachable',
  'netcheck.reason.unreachableWhy': 'the lobby is unreachable: {error}',
  'netcheck.reason.public': 'this device has a public address',
  'netcheck.reason.eim': 'your NAT keeps one public port for every destination',
  'netcheck.reason.noRelay': 'but no TURN relay allocates, so peers behind strict NATs cannot reach you',
  'netcheck.reason.symmetric': 'your NAT gives each destination its own port (symmetric), so most peers connect through TURN',
  'netcheck.reason.unknownTURN': 'how your NAT maps ports is unknown; TURN works',
  'netcheck.reason.noStunTurn': 'no STUN answer, but TURN allocates',
  'netcheck.reason.udpBlocked': 'no STUN answer: UDP seems blocked; TURN over TCP works',
  'netcheck.reason.symmetricNoRelay': 'your NAT is symmetric and no TURN relay allocates: most peers cannot reach you',
  'netcheck.reason.stunNoRelay': 'STUN answers but no TURN relay allocates: peers behind strict NATs cannot reach you',
  'netcheck.reason.nothing': 'neither STUN nor TURN answers: only peers on your own network can connect',

  // The empty conversation area and the share dialog
  'conversations.label': 'Conversation',
  'placeholder.title': 'Connect to someone',
  'placeholder.text': 'Pick a person in the room and press {request}. When they accept, you can chat and send files to each other — directly, encrypted, with a verification code to compare.',
  'share.title': 'Invite to this room',
  'share.titlePrivate': 'Invite to your private room',
  'share.titleRoom': 'Invite to room “{room}”',
  'share.titleLobby': 'Invite to the public lobby',
  'share.aboutPrivate': 'Anyone with this link or QR code can join, and nobody can guess it: send it only to the people you want here.',
  'share.about': 'Anyone with this link or QR code can join — and so can anyone who guesses the name.',
  'share.qr': 'QR code of the link {link}',
  'share.link': 'Link to this room',
  'share.copy': 'Copy link',
  'share.native': 'Share…',
  'share.done': 'Done',
  'share.copied': 'Link copied.',
  'share.copyByHand': 'Select and copy the link above.',
  'share.text': 'Join me on p2plobby',

  // What was shared into the installed app (install.js)
  'shared.files': { one: '{count} shared file', other: '{count} shared files' },
  'shared.filesAndText': { one: '{count} shared file and text', other: '{count} shared files and text' },
  'shared.text': 'Shared text',
  'shared.choose': { one: '{what} — choose a person to send it to', other: '{what} — choose a person to send them to' },
  'shared.sent': '{what} sent to {names}',
  'shared.fileName': '“{name}”',
  'shared.more': '{names} and {count} more',
  'shared.unnamed': 'shared file',
  'shared.nobody': 'Request someone in the room; once you are connected, send from here.',
  'shared.send': 'Send to {name}',
  'shared.discard': 'Discard',
  'shared.done': 'Done',
  'dismiss': 'Dismiss',

  // Server errors (codes of docs/protocol.md) and close codes
  'server.error': 'Server: {message}',
  'server.bad-json': 'it could not read a message from this page.',
  'server.bad-message': 'it rejected a message from this page.',
  'server.self-target': 'a message was addressed to this page itself.',
  'server.binary-unsupported': 'it takes only text messages.',
  'server.rate-limited': 'too many messages at once; some were dropped.',
  'server.bad-room': 'that room name is not valid.',
  'server.room-full': 'this room is full.',
  'server.server-full': 'the server is full.',
  'server.shutting-down': 'the server is shutting down.',
  'server.token-missing': 'this lobby admits only people with a join link.',
  'server.token-invalid': 'the join link is not valid.',
  'server.token-expired': 'the join link has expired.',
  'server.token-room': 'the join link is not for this room.',
  'server.name-fixed': 'your name comes from your join link and cannot be changed here.',
  'close.4000': 'this page fell too far behind',
  'close.4001': 'too many messages',
  'close.4002': 'the room name is not valid',
  'close.4003': 'the room or the server is full',
  'close.4004': 'this page needs a valid join link: ask for a new one',
  'close.4005': 'too many people are connecting at once; trying again shortly',

  // A conversation
  'state.requesting': 'Requesting…',
  'state.incoming': 'Wants to connect',
  'state.connecting': 'Connecting…',
  'state.connected': 'Connected',
  'state.declined': 'Declined',
  'state.failed': 'Failed',
  'state.left': 'Left',
  'state.closed': 'Closed',
  'state.notInLobby': '{state} · not in the lobby',
  'action.accept': 'Accept',
  'action.decline': 'Decline',
  'action.cancel': 'Cancel',
  'action.hangup': 'Hang up',
  'action.request': 'Request',
  'action.requestAgain': 'Request again',
  'action.withdraw': 'Withdraw',
  'conv.back': 'Back to the room',
  'conv.verify': 'Verification code',
  'conv.verifyAbout': 'You and the other person both see a six-digit code derived from the encryption keys of this very connection. Compare it by voice or in person: if the codes match, nobody — not even the lobby server — is sitting in the middle of your connection.',
  'conv.sendFiles': 'Send files',
  'conv.sendFolder': 'Send a folder',
  'conv.chooseFiles': 'Files to send',
  'conv.chooseFolder': 'Folder to send',
  'conv.autoAccept': 'Accept their files without asking',
  'conv.autoAcceptTitle': 'For this connection: files they send are accepted as they arrive, without asking you (the usual limits still apply).',
  'conv.autoSave': 'Save automatically',
  'conv.autoSaveInto': 'Save automatically into “{dir}”',
  'conv.autoSaveDownloads': 'Save automatically (as downloads)',
  'conv.autoSaveTitle': 'Save every file you receive from them as soon as it arrives: into a folder you choose where this browser can, else as downloads. For this visit.',
  'conv.saveAll': 'Save all',
  'conv.unsaved': { one: '{count} received file not saved', other: '{count} received files not saved' },
  'conv.message': 'Message',
  'conv.messageTo': 'Message {name}',
  'conv.connectToChat': 'Connect to chat',
  'conv.send': 'Send',
  'conv.drop': 'Drop files to send them',
  'conv.you': 'You',
  'conv.log': 'Messages and files with {name}',
  'path.relayedOwn': 'relayed · TURN over {protocol}',
  'path.relayedTheirs': 'relayed · the other side’s TURN',
  'path.direct': 'direct · {protocol}',
  'path.titleRelayed': 'Through the server’s relay (TURN): the other person does not see your IP address. Candidates: {local} ↔ {remote}, {protocol}.',
  'path.titleDirect': 'Directly between your two devices. Candidates: {local} ↔ {remote}, {protocol}.',
  'note.newSession': 'New session',
  'note.connected': 'Connected — chat and files are end-to-end encrypted between you two.',
  'note.relayedAsked': 'Relayed by the server, as you asked: they do not see your IP address. The relay cannot read anything.',
  'note.relayed': 'Your networks allow no direct path, so the server relays the encrypted data. It cannot read anything.',
  'note.direct': 'Direct connection: nothing goes through the server.',
  'note.limited': '{name}: {reason}',
  'note.renamed': '{old} is now {name}',
  'note.notSent': 'Not sent: {error}',
  'note.tooManyFiles': 'Not sent: {count} files are more than one transfer may hold ({max}). Send them in parts, or as an archive.',
  'note.couldNotSend': 'Could not send: {error}',
  'note.pastedLong': 'The pasted text is longer than a message may be (16 KiB): it is offered as a text file.',
  'note.pastedName': 'pasted text.txt',
  'note.autoSaveFailed': 'Could not save “{file}” into “{dir}” automatically ({error}): save it from its card.',
  'note.autoAcceptOn': 'Files from {name} are accepted without asking, for this connection.',
  'note.autoAcceptOff': 'Files from {name} wait for your answer again.',
  'note.autoSaveOff': 'Received files are no longer saved automatically.',
  'note.noFolder': 'Cannot save into a folder here ({error}).',
  'note.autoSaveInto': 'Files from {name} are saved into “{dir}” as they arrive, with their folders, for this visit.',
  'note.autoSaveDownloads': 'Files from {name} are downloaded as they arrive, for this visit (your browser may ask once to allow several downloads).',
  'note.dropFailed': 'Could not read what was dropped: {error}',
  'note.emptyFolder': 'Nothing to send: the folder is empty.',
  'note.trimmed': { one: '{count} older item was removed from this conversation.', other: '{count} older items were removed from this conversation.' },

  // File transfers
  'transfer.offered.send': 'Waiting for them to accept…',
  'transfer.offered.receive': 'Wants to send you',
  'transfer.sending.send': 'Sending',
  'transfer.verifying.send': 'Waiting for the receiver to verify…',
  'transfer.receiving.receive': 'Receiving',
  'transfer.done.send': 'Delivered · SHA-256 verified',
  'transfer.done.receive': 'Received · SHA-256 verified',
  'transfer.declined': 'Declined',
  'transfer.cancelled': 'Cancelled',
  'transfer.failed': 'Failed',
  'transfer.files': { one: '{count} file', other: '{count} files' },
  'transfer.folder': { one: '{folder} · {count} file', other: '{folder} · {count} files' },
  'transfer.sendingTitle': 'Sending {title}',
  'transfer.receivingTitle': 'Receiving {title}',
  'transfer.more': 'and {count} more',
  'transfer.of': '{bytes} of {total}',
  'transfer.avg': 'avg {rate}',
  'transfer.save': 'Save {name}',
  'transfer.saveAll': 'Save all',
  'transfer.saveFolder': 'Save to folder…',
  'transfer.saveFolderTitle': 'Save these files into a folder you choose, with their folders',
  'transfer.saveFolderFailed': 'Could not save into that folder: {error}',
  'transfer.preview': 'Preview',
  'transfer.previewOf': 'Preview of {name}',
  'transfer.sha': 'SHA-256 {sum}',
  'transfer.shaLabel': 'SHA-256 checksum',
  'saved.downloaded': 'downloaded',
  'saved.into': 'saved to {path}',
  'saved.mark': '✓ {where}',
  'saved.unsavedLeave': { one: '{count} received file is not saved yet.', other: '{count} received files are not saved yet.' },
  'saved.stale': { one: 'Removed {count} file left from an earlier visit ({size}).', other: 'Removed {count} files left from an earlier visit ({size}).' },

  // Sizes and times
  'unit.B': '{n} B',
  'unit.kB': '{n} kB',
  'unit.MB': '{n} MB',
  'unit.GB': '{n} GB',
  'unit.TB': '{n} TB',
  'unit.rate': '{n} MB/s',
  'eta.s': '{s} s left',
  'eta.min': '{m} min {s} s left',
  'eta.h': '{h} h {m} min left',

  // Reasons the SDK gives (in English, for developers), as shown to people: see sdkText.
  'sdk.youLeft': 'You left.',
  'sdk.leftRoomWithdrawn': 'You left the room: the request was withdrawn.',
  'sdk.leftRoomDeclined': 'You left the room: the request was declined.',
  'sdk.lobbyLost': 'Lost the connection to the lobby server.',
  'sdk.theyLeftRoom': '{name} left the room.',
  'sdk.theyNotInRoom': '{name} is no longer in the room.',
  'sdk.newSession': '{name} started a new session.',
  'sdk.youDeclined': 'You declined.',
  'sdk.youWithdrew': 'You withdrew the request.',
  'sdk.youHungUp': 'You hung up.',
  'sdk.theyDeclined': '{name} declined.',
  'sdk.theirRequestExpired': "{name}'s request expired: no answer within {time}.",
  'sdk.theyWithdrew': '{name} withdrew the request.',
  'sdk.theyHungUp': '{name} hung up.',
  'sdk.theyLeft': '{name} left.',
  'sdk.noAnswer': '{name} did not answer within {time}: the request was withdrawn.',
  'sdk.noPath': 'Could not connect: no network path was found between you two.',
  'sdk.lost': 'The connection to {name} was lost.',
  'sdk.cannotStart': 'Could not start the connection: {error}',
  'sdk.cannotAnswer': 'Could not answer the connection: {error}',
  'sdk.badDescription': 'The other side sent an unusable description: {error}',
  'sdk.noCode': 'No verification code ({error}), so nobody could check this connection: it was closed.',
  'sdk.closed': 'The connection was closed.',
  'sdk.notConnected': 'Not connected.',
  'sdk.declinedBy': 'Declined automatically by the other side: {reason}.',
  'sdk.otherDeclined': 'The other side declined.',
  'sdk.noFileChannel': 'Could not open the file channel: {error}',
  'sdk.channelClosed': 'The file channel closed before the end.',
  'sdk.sendFailed': 'Sending failed: {error}',
  'sdk.youCancelled': 'You cancelled the transfer.',
  'sdk.otherCancelled': 'The other side cancelled the transfer.',
  'sdk.otherCancelledWhy': 'The other side cancelled the transfer ({reason}).',
  'sdk.tooFast': 'Messages arrive too fast: some were dropped.',
  'sdk.tooManyOffers': 'Too many file offers at once: some were declined automatically.',
  'sdk.offerTooBig': 'An offer of {count} files was declined automatically (at most {max} at once).',
  'sdk.largerThanAnnounced': '“{file}” is larger than announced ({size} bytes).',
  'sdk.moreData': 'More data arrived than was announced.',
  'sdk.endedEarly': '“{file}” ended after {got} of {size} bytes.',
  'sdk.cannotStore': 'Could not store “{file}”: {error}',
  'sdk.memory': 'Declined automatically: {size} is more than this page can hold in memory ({budget} in all, {free} free). It cannot store files on disk here: open it over HTTPS or on localhost to receive large files.',
};

/** @typedef {keyof typeof en} Key */

/** @type {Record<Key, Entry>} */
const de = {
  'group.title': 'Die Gruppe, in der du bist: Nur ihre Mitglieder sehen dich',
  'self': 'Du bist {name}',
  'self.title': 'Der Name, den die anderen sehen',
  'self.renamed': 'Hier heißt schon jemand „{asked}“, deshalb sehen dich die anderen als „{name}“.',
  'self.renamedToast': 'Hier heißt schon jemand „{asked}“: Die anderen sehen dich als „{name}“.',
  'status.connecting': 'Verbinde…',
  'status.online': 'Online',
  'status.reconnecting': 'Verbinde erneut…',
  'status.reconnectingTitle': 'Der Lobby-Server ist nicht erreichbar. Offene Verbindungen funktionieren weiter; Anfragen brauchen den Server.',
  'status.offline': 'Offline',
  'status.offlineReason': 'Offline: {reason}',
  'status.notConnected': 'Nicht verbunden',
  'controls.toggle': 'Raum & Name',
  'room.label': 'Raum',
  'room.rule': 'Buchstaben, Ziffern, - _ .',
  'room.placeholder': 'ein Raumname',
  'room.join': 'Beitreten',
  'name.label': 'Dein Name',
  'name.guest': 'Gast {n}',
  'name.fixed': 'Dein Name kommt aus deinem Zugangslink',
  'anonymous': 'Anonym',
  'someone': 'Jemand',
  'theOther': 'Die andere Person',
  'they': 'Die andere Person',
  'them': 'die andere Person',
  'fromThem': 'der anderen Person',
  'thisPerson': 'dieser Person',

  'offline.retry': 'Jetzt erneut versuchen',
  'offline.still': 'Offene Unterhaltungen funktionieren weiter: Chat und Dateien gehen direkt zwischen euch. Um Leute zu finden und neue Anfragen zu stellen, wird der Server gebraucht.',
  'offline.refused': 'Der Lobby-Server hat diese Seite abgewiesen. {still}',
  'offline.refusedReason': 'Der Lobby-Server hat diese Seite abgewiesen ({reason}). {still}',
  'offline.retryIn': 'Der Lobby-Server ist nicht erreichbar. {still} Nächster Versuch in {count} s.',
  'offline.reconnecting': 'Der Lobby-Server ist nicht erreichbar. {still} Verbinde erneut…',
  'roomError.title': 'Der Raumname in diesem Link ist ungültig.',
  'roomError.nothing': 'Du bist keinem Raum beigetreten: Wähle, wohin du gehen möchtest.',
  'roomError.network': 'Zu deinem Netzwerk',
  'roomError.fix': 'Stattdessen „{room}“ betreten',
  'roomError.rule': 'Ein Raumname hat 1 bis 64 Zeichen, nur die Buchstaben A–Z und a–z, Ziffern, „-“, „_“ und „.“.',
  'roomError.tooLong': { one: 'Er ist {count} Zeichen lang. {rule}', other: 'Er ist {count} Zeichen lang. {rule}' },
  'roomError.contains': '„{room}“ enthält {chars}. {rule}',
  'roomError.space': 'ein Leerzeichen',
  'request.banner': '{name} möchte sich mit dir verbinden.',
  'request.failed': 'Anfrage nicht möglich: {error}',

  'group.none.label': 'Kein Raum',
  'group.none.heading': 'In keinem Raum',
  'group.none.about': 'Der Link nannte einen Raum, den es nicht geben kann.',
  'group.lobby.label': 'Öffentliche Lobby',
  'group.lobby.heading': 'In der öffentlichen Lobby',
  'group.lobby.aboutNetwork': 'Dieser Server gruppiert Leute nicht nach Netzwerk: Alle, die die Seite ohne Raum öffnen, sind hier. Um nur die Leute zu treffen, die du einlädst, erstelle einen privaten Raum.',
  'group.lobby.about': 'Alle, die die Seite ohne Raum öffnen, sind hier: Dieser Server hat keine Netzwerkgruppen. Um nur die Leute zu treffen, die du einlädst, erstelle einen privaten Raum.',
  'group.lobby.empty': 'Bisher hat niemand die Seite ohne Raum geöffnet.',
  'group.network.label': 'Dein Netzwerk',
  'group.network.heading': 'Leute in deinem Netzwerk',
  'group.network.about': 'Alle, die diese Seite aus deinem Netzwerk öffnen (dieselbe öffentliche Adresse: dein WLAN, dein Büro), sehen dich hier, ganz ohne Link. Um jemanden anderswo zu treffen, erstelle einen privaten Raum.',
  'group.network.empty': 'Leute in deinem Netzwerk erscheinen hier, sobald sie diese Seite öffnen.',
  'group.private.label': 'Privater Raum',
  'group.private.heading': 'In diesem privaten Raum',
  'group.private.about': 'Nur wer den Link hat, kann beitreten: Der Name ist nicht zu erraten.',
  'group.room.label': 'Raum „{room}“',
  'group.room.heading': 'In diesem Raum',
  'group.room.about': 'Alle, die den Namen „{room}“ kennen, können beitreten. Für einen Raum, den niemand erraten kann, erstelle einen privaten Raum.',
  'group.link': 'Schick jemandem den Link zu diesem Raum – sobald die Person ihn öffnet, erscheint sie hier.',
  'group.newPrivate': 'Neuer privater Raum',
  'group.newPrivateTitle': 'Ein Raum mit einem nicht zu erratenden Namen: Nur wer von dir den Link bekommt, kann beitreten',
  'group.invite': 'Einladen',
  'group.inviteTitle': 'Link und QR-Code dieses Raums',
  'group.goNetwork': 'Dein Netzwerk',
  'group.goNetworkTitle': 'Zurück zu den Leuten in deinem Netzwerk',
  'group.goLobby': 'Öffentliche Lobby',
  'group.goLobbyTitle': 'Zurück in die öffentliche Lobby',
  'title': '{label} · p2plobby',
  'title.count': '({count}) {label} · p2plobby',

  'members.label': 'Leute',
  'members.count': { one: '{count} Mitglied online', other: '{count} Mitglieder online' },
  'members.open': 'Unterhaltung mit {name} öffnen',
  'members.unread': { one: '{count} ungelesene Nachricht', other: '{count} ungelesene Nachrichten' },
  'members.empty': 'Außer dir ist noch niemand hier.',
  'members.hint': 'Ohne die Zustimmung der anderen Person wird nichts verbunden. Danach gehen Chat und Dateien direkt zwischen euren Browsern, nicht über den Server – oder über sein Relay, wenn eure Netzwerke nichts anderes zulassen.',
  'notify.ask': 'Lass dich benachrichtigen, wenn sich jemand verbinden oder dir Dateien schicken möchte.',
  'notify.on': 'Einschalten',
  'notify.request': '{name} möchte sich verbinden',
  'notify.requestBody': 'Öffne p2plobby, um anzunehmen oder abzulehnen.',
  'notify.offerFile': '{name} möchte dir „{file}“ schicken',
  'notify.offerFiles': { one: '{name} möchte dir {count} Datei schicken', other: '{name} möchte dir {count} Dateien schicken' },
  'notify.offerBody': '{size}. Öffne p2plobby, um anzunehmen oder abzulehnen.',

  'network.title': 'Netzwerk',
  'relay.label': 'Meine IP-Adresse verbergen (nur Relay)',
  'relay.title': 'Jede Verbindung läuft über das Relay des Servers (TURN), sodass die andere Person deine IP-Adresse nie erfährt. Gilt für neue Verbindungen; etwas langsamer.',
  'relay.on': 'Neue Verbindungen laufen über das Relay: Die andere Seite sieht deine IP-Adresse nicht.',
  'relay.off': 'Neue Verbindungen gehen direkt, wo eure Netzwerke es zulassen.',
  'netcheck.button': 'Verbindung prüfen',
  'netcheck.checking': 'Prüfe…',
  'netcheck.lobbyOK': 'Lobby: erreichbar, Antwortzeit {ms} ms',
  'netcheck.lobbyFailed': 'Lobby: nicht erreichbar ({error})',
  'netcheck.stunMapped': 'STUN {server}: du erscheinst als {address}',
  'netcheck.stunFailed': 'STUN {server}: keine Antwort ({error})',
  'netcheck.stunAnswered': 'STUN {server}: antwortet',
  'netcheck.mapping': 'NAT-Zuordnung: {mapping}',
  'netcheck.turnOK': 'TURN über {transport} {server}: funktioniert ({ms} ms)',
  'netcheck.turnFailed': 'TURN über {transport} {server}: fehlgeschlagen ({error})',
  'netcheck.verdict.cannot connect': 'Keine Verbindung möglich',
  'netcheck.verdict.direct connections likely': 'Direkte Verbindungen wahrscheinlich',
  'netcheck.verdict.relay will be used': 'Das Relay wird genutzt',
  'netcheck.mapping.none': 'keine (öffentliche Adresse)',
  'netcheck.mapping.endpoint-independent': 'zielunabhängig',
  'netcheck.mapping.endpoint-dependent': 'zielabhängig (symmetrisch)',
  'netcheck.mapping.unknown': 'unbekannt',
  'netcheck.reason.unreachable': 'die Lobby ist nicht erreichbar',
  'netcheck.reason.unreachableWhy': 'die Lobby ist nicht erreichbar: {error}',
  'netcheck.reason.public': 'dieses Gerät hat eine öffentliche Adresse',
  'netcheck.reason.eim': 'dein NAT behält für jedes Ziel denselben öffentlichen Port',
  'netcheck.reason.noRelay': 'aber kein TURN-Relay vergibt Adressen, daher erreichen dich Leute hinter strengen NATs nicht',
  'netcheck.reason.symmetric': 'dein NAT gibt jedem Ziel einen eigenen Port (symmetrisch), daher verbinden sich die meisten über TURN',
  'netcheck.reason.unknownTURN': 'wie dein NAT Ports zuordnet, ist unbekannt; TURN funktioniert',
  'netcheck.reason.noStunTurn': 'keine STUN-Antwort, aber TURN vergibt Adressen',
  'netcheck.reason.udpBlocked': 'keine STUN-Antwort: UDP scheint gesperrt; TURN über TCP funktioniert',
  'netcheck.reason.symmetricNoRelay': 'dein NAT ist symmetrisch und kein TURN-Relay vergibt Adressen: Die meisten erreichen dich nicht',
  'netcheck.reason.stunNoRelay': 'STUN antwortet, aber kein TURN-Relay vergibt Adressen: Leute hinter strengen NATs erreichen dich nicht',
  'netcheck.reason.nothing': 'weder STUN noch TURN antworten: Nur Leute in deinem eigenen Netzwerk können sich verbinden',

  'conversations.label': 'Unterhaltung',
  'placeholder.title': 'Mit jemandem verbinden',
  'placeholder.text': 'Wähle eine Person im Raum und drücke {request}. Sobald sie annimmt, könnt ihr chatten und euch Dateien schicken – direkt, verschlüsselt, mit einem Prüfcode zum Vergleichen.',
  'share.title': 'In diesen Raum einladen',
  'share.titlePrivate': 'In deinen privaten Raum einladen',
  'share.titleRoom': 'In den Raum „{room}“ einladen',
  'share.titleLobby': 'In die öffentliche Lobby einladen',
  'share.aboutPrivate': 'Alle mit diesem Link oder QR-Code können beitreten, und niemand kann ihn erraten: Schick ihn nur an die Leute, die du hier haben möchtest.',
  'share.about': 'Alle mit diesem Link oder QR-Code können beitreten – und ebenso alle, die den Namen erraten.',
  'share.qr': 'QR-Code des Links {link}',
  'share.link': 'Link zu diesem Raum',
  'share.copy': 'Link kopieren',
  'share.native': 'Teilen…',
  'share.done': 'Fertig',
  'share.copied': 'Link kopiert.',
  'share.copyByHand': 'Markiere den Link oben und kopiere ihn.',
  'share.text': 'Triff mich auf p2plobby',

  // Was in die installierte App geteilt wurde (install.js)
  'shared.files': { one: '{count} geteilte Datei', other: '{count} geteilte Dateien' },
  'shared.filesAndText': { one: '{count} geteilte Datei und Text', other: '{count} geteilte Dateien und Text' },
  'shared.text': 'Geteilter Text',
  'shared.choose': '{what} – wähle, an wen du das senden möchtest',
  'shared.sent': '{what} an {names} gesendet',
  'shared.fileName': '„{name}“',
  'shared.more': '{names} und {count} weitere',
  'shared.unnamed': 'geteilte Datei',
  'shared.nobody': 'Frag jemanden im Raum an; sobald ihr verbunden seid, sendest du von hier aus.',
  'shared.send': 'An {name} senden',
  'shared.discard': 'Verwerfen',
  'shared.done': 'Fertig',
  'dismiss': 'Schließen',

  'server.error': 'Server: {message}',
  'server.bad-json': 'Eine Nachricht dieser Seite war unlesbar.',
  'server.bad-message': 'Eine Nachricht dieser Seite wurde abgelehnt.',
  'server.self-target': 'Eine Nachricht war an diese Seite selbst gerichtet.',
  'server.binary-unsupported': 'Nur Textnachrichten werden angenommen.',
  'server.rate-limited': 'Zu viele Nachrichten auf einmal; einige wurden verworfen.',
  'server.bad-room': 'Dieser Raumname ist ungültig.',
  'server.room-full': 'Dieser Raum ist voll.',
  'server.server-full': 'Der Server ist voll.',
  'server.shutting-down': 'Der Server fährt herunter.',
  'server.token-missing': 'Diese Lobby lässt nur Leute mit Zugangslink herein.',
  'server.token-invalid': 'Der Zugangslink ist ungültig.',
  'server.token-expired': 'Der Zugangslink ist abgelaufen.',
  'server.token-room': 'Der Zugangslink gilt nicht für diesen Raum.',
  'server.name-fixed': 'Dein Name kommt aus deinem Zugangslink und kann hier nicht geändert werden.',
  'close.4000': 'diese Seite kam nicht mehr hinterher',
  'close.4001': 'zu viele Nachrichten',
  'close.4002': 'der Raumname ist ungültig',
  'close.4003': 'der Raum oder der Server ist voll',
  'close.4004': 'diese Seite braucht einen gültigen Zugangslink: bitte um einen neuen',
  'close.4005': 'gerade verbinden sich zu viele auf einmal; gleich noch einmal',

  'state.requesting': 'Anfrage gesendet…',
  'state.incoming': 'Möchte sich verbinden',
  'state.connecting': 'Verbinde…',
  'state.connected': 'Verbunden',
  'state.declined': 'Abgelehnt',
  'state.failed': 'Fehlgeschlagen',
  'state.left': 'Gegangen',
  'state.closed': 'Beendet',
  'state.notInLobby': '{state} · nicht in der Lobby',
  'action.accept': 'Annehmen',
  'action.decline': 'Ablehnen',
  'action.cancel': 'Abbrechen',
  'action.hangup': 'Auflegen',
  'action.request': 'Anfragen',
  'action.requestAgain': 'Erneut anfragen',
  'action.withdraw': 'Zurückziehen',
  'conv.back': 'Zurück zum Raum',
  'conv.verify': 'Prüfcode',
  'conv.verifyAbout': 'Du und die andere Person seht beide einen sechsstelligen Code, der aus den Schlüsseln genau dieser Verbindung abgeleitet ist. Vergleicht ihn am Telefon oder persönlich: Stimmen die Codes überein, sitzt niemand – nicht einmal der Lobby-Server – mitten in eurer Verbindung.',
  'conv.sendFiles': 'Dateien senden',
  'conv.sendFolder': 'Einen Ordner senden',
  'conv.chooseFiles': 'Zu sendende Dateien',
  'conv.chooseFolder': 'Zu sendender Ordner',
  'conv.autoAccept': 'Dateien von dieser Person ohne Nachfrage annehmen',
  'conv.autoAcceptTitle': 'Für diese Verbindung: Dateien von dieser Person werden beim Eintreffen angenommen, ohne dich zu fragen (die üblichen Grenzen gelten weiter).',
  'conv.autoSave': 'Automatisch speichern',
  'conv.autoSaveInto': 'Automatisch in „{dir}“ speichern',
  'conv.autoSaveDownloads': 'Automatisch speichern (als Downloads)',
  'conv.autoSaveTitle': 'Jede Datei von dieser Person gleich beim Eintreffen speichern: in einen Ordner deiner Wahl, wo dieser Browser das kann, sonst als Download. Für diesen Besuch.',
  'conv.saveAll': 'Alle speichern',
  'conv.unsaved': { one: '{count} empfangene Datei nicht gespeichert', other: '{count} empfangene Dateien nicht gespeichert' },
  'conv.message': 'Nachricht',
  'conv.messageTo': 'Nachricht an {name}',
  'conv.connectToChat': 'Verbinde dich, um zu chatten',
  'conv.send': 'Senden',
  'conv.drop': 'Dateien hier ablegen, um sie zu senden',
  'conv.you': 'Du',
  'conv.log': 'Nachrichten und Dateien mit {name}',
  'path.relayedOwn': 'über Relay · TURN über {protocol}',
  'path.relayedTheirs': 'über Relay · TURN der anderen Seite',
  'path.direct': 'direkt · {protocol}',
  'path.titleRelayed': 'Über das Relay des Servers (TURN): Die andere Person sieht deine IP-Adresse nicht. Kandidaten: {local} ↔ {remote}, {protocol}.',
  'path.titleDirect': 'Direkt zwischen euren beiden Geräten. Kandidaten: {local} ↔ {remote}, {protocol}.',
  'note.newSession': 'Neue Sitzung',
  'note.connected': 'Verbunden – Chat und Dateien sind zwischen euch beiden Ende-zu-Ende-verschlüsselt.',
  'note.relayedAsked': 'Wie gewünscht über das Relay des Servers: Die andere Seite sieht deine IP-Adresse nicht. Das Relay kann nichts mitlesen.',
  'note.relayed': 'Eure Netzwerke lassen keinen direkten Weg zu, deshalb leitet der Server die verschlüsselten Daten weiter. Er kann nichts mitlesen.',
  'note.direct': 'Direkte Verbindung: Nichts läuft über den Server.',
  'note.limited': '{name}: {reason}',
  'note.renamed': '{old} heißt jetzt {name}',
  'note.notSent': 'Nicht gesendet: {error}',
  'note.tooManyFiles': 'Nicht gesendet: {count} Dateien sind mehr, als eine Übertragung enthalten darf ({max}). Schick sie in Teilen oder als Archiv.',
  'note.couldNotSend': 'Senden nicht möglich: {error}',
  'note.pastedLong': 'Der eingefügte Text ist länger, als eine Nachricht sein darf (16 KiB): Er wird als Textdatei angeboten.',
  'note.pastedName': 'eingefügter Text.txt',
  'note.autoSaveFailed': '„{file}“ konnte nicht automatisch in „{dir}“ gespeichert werden ({error}): Speichere die Datei über ihre Karte.',
  'note.autoAcceptOn': 'Dateien von {name} werden für diese Verbindung ohne Nachfrage angenommen.',
  'note.autoAcceptOff': 'Dateien von {name} warten wieder auf deine Antwort.',
  'note.autoSaveOff': 'Empfangene Dateien werden nicht mehr automatisch gespeichert.',
  'note.noFolder': 'Speichern in einen Ordner ist hier nicht möglich ({error}).',
  'note.autoSaveInto': 'Dateien von {name} werden für diesen Besuch beim Eintreffen in „{dir}“ gespeichert, samt ihren Ordnern.',
  'note.autoSaveDownloads': 'Dateien von {name} werden für diesen Besuch beim Eintreffen heruntergeladen (dein Browser fragt eventuell einmal, ob mehrere Downloads erlaubt sind).',
  'note.dropFailed': 'Das Abgelegte konnte nicht gelesen werden: {error}',
  'note.emptyFolder': 'Nichts zu senden: Der Ordner ist leer.',
  'note.trimmed': { one: '{count} älterer Eintrag wurde aus dieser Unterhaltung entfernt.', other: '{count} ältere Einträge wurden aus dieser Unterhaltung entfernt.' },

  'transfer.offered.send': 'Warte auf Annahme…',
  'transfer.offered.receive': 'Möchte dir senden',
  'transfer.sending.send': 'Sende',
  'transfer.verifying.send': 'Warte auf die Prüfung beim Empfänger…',
  'transfer.receiving.receive': 'Empfange',
  'transfer.done.send': 'Zugestellt · SHA-256 geprüft',
  'transfer.done.receive': 'Empfangen · SHA-256 geprüft',
  'transfer.declined': 'Abgelehnt',
  'transfer.cancelled': 'Abgebrochen',
  'transfer.failed': 'Fehlgeschlagen',
  'transfer.files': { one: '{count} Datei', other: '{count} Dateien' },
  'transfer.folder': { one: '{folder} · {count} Datei', other: '{folder} · {count} Dateien' },
  'transfer.sendingTitle': 'Sende {title}',
  'transfer.receivingTitle': 'Empfange {title}',
  'transfer.more': 'und {count} weitere',
  'transfer.of': '{bytes} von {total}',
  'transfer.avg': 'Ø {rate}',
  'transfer.save': '{name} speichern',
  'transfer.saveAll': 'Alle speichern',
  'transfer.saveFolder': 'In Ordner speichern…',
  'transfer.saveFolderTitle': 'Diese Dateien samt ihren Ordnern in einen Ordner deiner Wahl speichern',
  'transfer.saveFolderFailed': 'Speichern in diesen Ordner nicht möglich: {error}',
  'transfer.preview': 'Vorschau',
  'transfer.previewOf': 'Vorschau von {name}',
  'transfer.sha': 'SHA-256 {sum}',
  'transfer.shaLabel': 'SHA-256-Prüfsumme',
  'saved.downloaded': 'heruntergeladen',
  'saved.into': 'gespeichert unter {path}',
  'saved.mark': '✓ {where}',
  'saved.unsavedLeave': { one: '{count} empfangene Datei ist noch nicht gespeichert.', other: '{count} empfangene Dateien sind noch nicht gespeichert.' },
  'saved.stale': { one: '{count} Datei von einem früheren Besuch entfernt ({size}).', other: '{count} Dateien von einem früheren Besuch entfernt ({size}).' },

  'unit.B': '{n} B',
  'unit.kB': '{n} kB',
  'unit.MB': '{n} MB',
  'unit.GB': '{n} GB',
  'unit.TB': '{n} TB',
  'unit.rate': '{n} MB/s',
  'eta.s': 'noch {s} s',
  'eta.min': 'noch {m} min {s} s',
  'eta.h': 'noch {h} h {m} min',

  'sdk.youLeft': 'Du bist gegangen.',
  'sdk.leftRoomWithdrawn': 'Du hast den Raum verlassen: Die Anfrage wurde zurückgezogen.',
  'sdk.leftRoomDeclined': 'Du hast den Raum verlassen: Die Anfrage wurde abgelehnt.',
  'sdk.lobbyLost': 'Die Verbindung zum Lobby-Server ist abgebrochen.',
  'sdk.theyLeftRoom': '{name} hat den Raum verlassen.',
  'sdk.theyNotInRoom': '{name} ist nicht mehr im Raum.',
  'sdk.newSession': '{name} hat eine neue Sitzung begonnen.',
  'sdk.youDeclined': 'Du hast abgelehnt.',
  'sdk.youWithdrew': 'Du hast die Anfrage zurückgezogen.',
  'sdk.youHungUp': 'Du hast aufgelegt.',
  'sdk.theyDeclined': '{name} hat abgelehnt.',
  'sdk.theirRequestExpired': 'Die Anfrage von {name} ist abgelaufen: keine Antwort innerhalb von {time}.',
  'sdk.theyWithdrew': '{name} hat die Anfrage zurückgezogen.',
  'sdk.theyHungUp': '{name} hat aufgelegt.',
  'sdk.theyLeft': '{name} ist gegangen.',
  'sdk.noAnswer': '{name} hat nicht innerhalb von {time} geantwortet: Die Anfrage wurde zurückgezogen.',
  'sdk.noPath': 'Keine Verbindung möglich: Zwischen euch beiden wurde kein Netzwerkweg gefunden.',
  'sdk.lost': 'Die Verbindung zu {name} ist abgebrochen.',
  'sdk.cannotStart': 'Die Verbindung konnte nicht aufgebaut werden: {error}',
  'sdk.cannotAnswer': 'Die Verbindung konnte nicht beantwortet werden: {error}',
  'sdk.badDescription': 'Die andere Seite hat eine unbrauchbare Beschreibung geschickt: {error}',
  'sdk.noCode': 'Kein Prüfcode ({error}), daher konnte niemand diese Verbindung prüfen: Sie wurde geschlossen.',
  'sdk.closed': 'Die Verbindung wurde geschlossen.',
  'sdk.notConnected': 'Nicht verbunden.',
  'sdk.declinedBy': 'Von der anderen Seite automatisch abgelehnt: {reason}.',
  'sdk.otherDeclined': 'Die andere Seite hat abgelehnt.',
  'sdk.noFileChannel': 'Der Dateikanal konnte nicht geöffnet werden: {error}',
  'sdk.channelClosed': 'Der Dateikanal wurde vor dem Ende geschlossen.',
  'sdk.sendFailed': 'Senden fehlgeschlagen: {error}',
  'sdk.youCancelled': 'Du hast die Übertragung abgebrochen.',
  'sdk.otherCancelled': 'Die andere Seite hat die Übertragung abgebrochen.',
  'sdk.otherCancelledWhy': 'Die andere Seite hat die Übertragung abgebrochen ({reason}).',
  'sdk.tooFast': 'Nachrichten kommen zu schnell: Einige wurden verworfen.',
  'sdk.tooManyOffers': 'Zu viele Dateiangebote auf einmal: Einige wurden automatisch abgelehnt.',
  'sdk.offerTooBig': 'Ein Angebot von {count} Dateien wurde automatisch abgelehnt (höchstens {max} auf einmal).',
  'sdk.largerThanAnnounced': '„{file}“ ist größer als angekündigt ({size} Bytes).',
  'sdk.moreData': 'Es kamen mehr Daten an als angekündigt.',
  'sdk.endedEarly': '„{file}“ endete nach {got} von {size} Bytes.',
  'sdk.cannotStore': '„{file}“ konnte nicht gespeichert werden: {error}',
  'sdk.memory': 'Automatisch abgelehnt: {size} ist mehr, als diese Seite im Speicher halten kann ({budget} insgesamt, {free} frei). Auf die Festplatte kann sie hier nicht speichern: Öffne sie über HTTPS oder auf localhost, um große Dateien zu empfangen.',
};

/**
 * Every language with a table, by its BCP 47 primary tag. English is the fallback for all.
 * @type {Record<string, Record<Key, Entry>>}
 */
export const TABLES = { en, de };

/**
 * The language to use: the first of wanted that has a table, by its full tag or by its primary subtag
 * ("de-AT" → "de"); English when none has.
 * @param {readonly string[]} wanted most preferred first
 * @returns {string}
 */
export function chooseLanguage(wanted) {
  for (const tag of wanted) {
    const l = String(tag || '').toLowerCase();
    if (Object.hasOwn(TABLES, l)) return l;
    const base = l.split('-')[0];
    if (Object.hasOwn(TABLES, base)) return base;
  }
  return 'en';
}

/** @returns {string[]} what this page asks for: ?lang= first, then the browser's languages */
function wantedLanguages() {
  const forced = typeof location === 'object' ? new URLSearchParams(location.search).get('lang') : null;
  const nav = typeof navigator === 'object' ? (navigator.languages?.length ? navigator.languages : [navigator.language]) : [];
  return [...(forced ? [forced] : []), ...nav];
}

/** The language of this page. */
export const lang = chooseLanguage(wantedLanguages());
/** The ?lang= of this page's address, kept in the addresses the page moves to ('' for none). */
export const forcedLang = typeof location === 'object' && Object.hasOwn(TABLES, (new URLSearchParams(location.search).get('lang') ?? '').toLowerCase())
  ? (new URLSearchParams(location.search).get('lang') ?? '').toLowerCase() : '';

const plurals = new Intl.PluralRules(lang);
const numbers = new Intl.NumberFormat(lang);

/**
 * @param {Key} key
 * @param {Params} params
 * @returns {string} the template for key in this language (English where the table lacks it)
 */
function template(key, params) {
  /** @type {Entry | undefined} */
  const e = TABLES[lang][key] ?? en[key];
  if (e === undefined) {
    console.warn('p2plobby: no text for', key);
    return String(key);
  }
  if (typeof e === 'string') return e;
  const n = Number(params.count);
  return (/** @type {Record<string, string | undefined>} */ (e))[plurals.select(n)] ?? e.other;
}

/**
 * @param {string | number | Node} v
 * @returns {string | Node} numbers formatted for the language
 */
function value(v) {
  return typeof v === 'number' ? numbers.format(v) : v;
}

/**
 * The text for key, with its {placeholders} filled.
 * @param {Key} key
 * @param {Params} [params] e.g. {name: 'Alice', count: 3}
 * @returns {string}
 */
export function t(key, params = {}) {
  return template(key, params).replace(/\{(\w+)\}/g, (m, p) => (Object.hasOwn(params, p) ? String(value(params[p])) : m));
}

/**
 * The text for key as nodes, for placeholders that are elements (a name in bold, say).
 * @param {Key} key
 * @param {Params} [params]
 * @returns {(string | Node)[]}
 */
export function tNodes(key, params = {}) {
  return template(key, params).split(/\{(\w+)\}/).map((part, i) => (i % 2 ? (Object.hasOwn(params, part) ? value(params[part]) : `{${part}}`) : part))
    .filter((x) => x !== '');
}

/**
 * Whether key is in the English table (for keys made at run time, e.g. from a state).
 * @param {string} key
 * @returns {key is Key}
 */
export function has(key) {
  return Object.hasOwn(en, key);
}

/**
 * Formats a number for the language.
 * @param {number} n
 * @param {Intl.NumberFormatOptions} [opts]
 * @returns {string}
 */
export function formatNumber(n, opts) {
  return opts ? new Intl.NumberFormat(lang, opts).format(n) : numbers.format(n);
}

/**
 * A list in the language's words: "a, b and c".
 * @param {string[]} items
 * @returns {string}
 */
export function formatList(items) {
  return new Intl.ListFormat(lang, { type: 'conjunction' }).format(items);
}

/**
 * Fills the static text of the page: data-i18n (the text), data-i18n-title, data-i18n-placeholder,
 * data-i18n-aria-label (those attributes). Sets <html lang>.
 * @param {ParentNode} [root]
 */
export function translatePage(root = document) {
  document.documentElement.lang = lang;
  for (const [data, attr] of /** @type {const} */ ([['i18n', ''], ['i18nTitle', 'title'], ['i18nPlaceholder', 'placeholder'], ['i18nAriaLabel', 'aria-label']])) {
    const sel = `[data-${data.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}]`;
    for (const el of root.querySelectorAll(sel)) {
      const key = /** @type {HTMLElement} */ (el).dataset[data] ?? '';
      if (!has(key)) {
        console.warn('p2plobby: no text for', key);
        continue;
      }
      if (attr) el.setAttribute(attr, t(key));
      else el.textContent = t(key);
    }
  }
}

/**
 * What the SDK says in English (peer.reason, transfer.error, `limited` notes: they are for developers), in this
 * language. Patterns follow the SDK's texts; a text none matches is shown as the SDK gave it.
 * @type {[RegExp, Key][]}
 */
const SDK = [
  [/^You left\.$/, 'sdk.youLeft'],
  [/^You left the room: the request was withdrawn\.$/, 'sdk.leftRoomWithdrawn'],
  [/^You left the room: the request was declined\.$/, 'sdk.leftRoomDeclined'],
  [/^Lost the connection to the lobby server\.$/, 'sdk.lobbyLost'],
  [/^You declined\.$/, 'sdk.youDeclined'],
  [/^You withdrew the request\.$/, 'sdk.youWithdrew'],
  [/^You hung up\.$/, 'sdk.youHungUp'],
  [/^You cancelled the transfer\.$/, 'sdk.youCancelled'],
  [/^Could not connect: no network path was found between you two\.$/, 'sdk.noPath'],
  [/^The connection was closed\.$/, 'sdk.closed'],
  [/^Not connected\.$/, 'sdk.notConnected'],
  [/^The other side declined\.$/, 'sdk.otherDeclined'],
  [/^The file channel closed before the end\.$/, 'sdk.channelClosed'],
  [/^The other side cancelled the transfer\.$/, 'sdk.otherCancelled'],
  [/^The other side cancelled the transfer \((?<reason>.*)\)\.$/s, 'sdk.otherCancelledWhy'],
  [/^Declined automatically by the other side: (?<reason>.*)\.$/s, 'sdk.declinedBy'],
  [/^Could not open the file channel: (?<error>.*)$/s, 'sdk.noFileChannel'],
  [/^Sending failed: (?<error>.*)$/s, 'sdk.sendFailed'],
  [/^Could not start the connection: (?<error>.*)$/s, 'sdk.cannotStart'],
  [/^Could not answer the connection: (?<error>.*)$/s, 'sdk.cannotAnswer'],
  [/^The other side sent an unusable description: (?<error>.*)$/s, 'sdk.badDescription'],
  [/^No verification code \((?<error>.*)\), so nobody could check this connection: it was closed\.$/s, 'sdk.noCode'],
  [/^The connection to (?<name>.*) was lost\.$/s, 'sdk.lost'],
  [/^Messages arrive too fast: some were dropped\.$/, 'sdk.tooFast'],
  [/^Too many file offers at once: some were declined automatically\.$/, 'sdk.tooManyOffers'],
  [/^An offer of (?<count>\d+) files was declined automatically \(at most (?<max>\d+) at once\)\.$/, 'sdk.offerTooBig'],
  [/^More data arrived than was announced\.$/, 'sdk.moreData'],
  [/^"(?<file>.*)" is larger than announced \((?<size>\d+) bytes\)\.$/s, 'sdk.largerThanAnnounced'],
  [/^"(?<file>.*)" ended after (?<got>\d+) of (?<size>\d+) bytes\.$/s, 'sdk.endedEarly'],
  [/^Could not store "(?<file>.*)": (?<error>.*)$/s, 'sdk.cannotStore'],
  [/^Declined automatically: (?<size>\S+ \S+) is more than this page can hold in memory \((?<budget>\S+ \S+) in all, (?<free>\S+ \S+) free\)\./, 'sdk.memory'],
  [/^(?<name>.*)'s request expired: no answer within (?<time>\d+ s)\.$/s, 'sdk.theirRequestExpired'],
  [/^(?<name>.*) did not answer within (?<time>\d+ s): the request was withdrawn\.$/s, 'sdk.noAnswer'],
  [/^(?<name>.*) left the room\.$/s, 'sdk.theyLeftRoom'],
  [/^(?<name>.*) is no longer in the room\.$/s, 'sdk.theyNotInRoom'],
  [/^(?<name>.*) started a new session\.$/s, 'sdk.newSession'],
  [/^(?<name>.*) withdrew the request\.$/s, 'sdk.theyWithdrew'],
  [/^(?<name>.*) hung up\.$/s, 'sdk.theyHungUp'],
  [/^(?<name>.*) declined\.$/s, 'sdk.theyDeclined'],
  [/^(?<name>.*) left\.$/s, 'sdk.theyLeft'],
];

/**
 * @param {string} text a reason or error from the SDK
 * @returns {string} in this language
 */
export function sdkText(text) {
  for (const [re, key] of SDK) {
    const m = re.exec(text);
    if (!m) continue;
    /** @type {Params} */
    const params = { ...m.groups };
    if (params.name === 'The other person') params.name = t('theOther'); // the SDK's word for a nameless peer
    if (typeof params.count === 'string') params.count = Number(params.count);
    if (typeof params.max === 'string') params.max = Number(params.max);
    if (typeof params.time === 'string') params.time = `${formatNumber(parseInt(params.time))} s`;
    return t(key, params);
  }
  return text;
}

/**
 * The netcheck reason (parts of SDK English, joined by "; ") in this language.
 * @param {string} reason
 * @returns {string}
 */
export function netcheckReason(reason) {
  /** @type {Record<string, Key>} */
  const fixed = {
    'the lobby is unreachable': 'netcheck.reason.unreachable',
    'this device has a public address': 'netcheck.reason.public',
    'your NAT keeps one public port for every destination': 'netcheck.reason.eim',
    'but no TURN relay allocates, so peers behind strict NATs cannot reach you': 'netcheck.reason.noRelay',
    'your NAT gives each destination its own port (symmetric), so most peers connect through TURN': 'netcheck.reason.symmetric',
    'no STUN answer, but TURN allocates': 'netcheck.reason.noStunTurn',
    'no STUN answer: UDP seems blocked; TURN over TCP works': 'netcheck.reason.udpBlocked',
    'your NAT is symmetric and no TURN relay allocates: most peers cannot reach you': 'netcheck.reason.symmetricNoRelay',
    'STUN answers but no TURN relay allocates: peers behind strict NATs cannot reach you': 'netcheck.reason.stunNoRelay',
    'neither STUN nor TURN answers: only peers on your own network can connect': 'netcheck.reason.nothing',
    'how your NAT maps ports is unknown; TURN works': 'netcheck.reason.unknownTURN',
  };
  if (Object.hasOwn(fixed, reason)) return t(fixed[reason]);
  const down = /^the lobby is unreachable: (.*)$/s.exec(reason);
  if (down) return t('netcheck.reason.unreachableWhy', { error: down[1] });
  return reason.split('; ').map((part) => (Object.hasOwn(fixed, part) ? t(fixed[part]) : part)).join('; ');
}
