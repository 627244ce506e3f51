// Getting the person's attention when someone wants something from them: system notifications (Notification
// API) for requests and file offers while the page is not in front. Permission is asked only when the person
// acts (a request, an accept, a new room, or the "Turn on" button), never on load.

/** @type {Map<string, Notification>} shown notifications, by tag */
const shown = new Map();
let asked = false;

/** @returns {boolean} whether this browser has the Notification API */
export function supported() {
  return typeof Notification === 'function';
}

/** @returns {NotificationPermission} 'default' (not asked yet), 'granted' or 'denied' */
export function permission() {
  return supported() ? Notification.permission : 'denied';
}

/**
 * Asks for permission to notify, if the person has not decided yet: once per page, unless they ask for it
 * (again) themselves. Call it from a user action.
 * @param {boolean} [again] the person pressed "Turn on"
 * @returns {Promise<NotificationPermission>}
 */
export async function askPermission(again = false) {
  if (!supported() || Notification.permission !== 'default' || (asked && !again)) return permission();
  asked = true;
  try {
    return await Notification.requestPermission();
  } catch {
    return permission();
  }
}

/** @returns {boolean} whether the person is elsewhere: another tab, window or application */
export function away() {
  return document.visibilityState !== 'visible' || !document.hasFocus();
}

/**
 * Raises a system notification when allowed and the person is away. A newer one with the same tag replaces it.
 * @param {string} tag one per subject (a request, an offer)
 * @param {string} title
 * @param {string} body
 * @param {() => void} onclick what clicking it shows (the page is brought to the front first)
 * @returns {boolean} whether one was raised
 */
export function notify(tag, title, body, onclick) {
  if (!supported() || Notification.permission !== 'granted' || !away()) return false;
  try {
    const n = new Notification(title, { body, tag });
    n.onclick = () => {
      window.focus();
      onclick();
      n.close();
    };
    shown.set(tag, n);
    return true;
  } catch {
    return false; // Chrome on Android only notifies through a service worker
  }
}

/**
 * Removes a notification whose subject was dealt with (answered, withdrawn, expired).
 * @param {string} tag
 */
export function dismiss(tag) {
  shown.get(tag)?.close();
  shown.delete(tag);
}
