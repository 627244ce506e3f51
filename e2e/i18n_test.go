package e2e

// The page in the person's language (issue 9, item 10): the language comes from the browser's languages (or
// ?lang=), every text is in web/app/i18n.js, and every language there has every text.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/p2plobby/p2plobby/internal/browsertest"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// openIn opens path of the server in a browser whose languages are acceptLang ("" for the default, English),
// with a remembered name, without waiting for the page to join. The languages are a flag of the browser
// process, so a person with languages of their own gets a browser of their own.
func openIn(t testing.TB, s *lobbytest.Server, path, name, acceptLang string) *page {
	t.Helper()
	p := &page{t: t, name: name}
	if acceptLang != "" {
		p.ctx = browsertest.New(t, chromedp.Flag("accept-lang", acceptLang))
	} else {
		p.ctx = browsertest.NewShared(t)
	}
	p.do(beforeScripts(fmt.Sprintf(`if (!localStorage.getItem('p2plobby.name')) localStorage.setItem('p2plobby.name', %s)`, jsString(name))),
		chromedp.Navigate(s.URL+path))
	return p
}

// pageWords is what the page says in a few places, and in which language.
type pageWords struct {
	Lang, Languages, Self, Heading, Request, Status, Join, Placeholder string
}

const readWords = `({lang: document.documentElement.lang, languages: navigator.languages.join(','),
	self: document.querySelector('[data-testid=self-name]').textContent,
	heading: document.querySelector('[data-testid=members-heading]').textContent,
	request: document.querySelector('li[data-testid=member] [data-testid=request]')?.textContent ?? '',
	status: document.querySelector('[data-testid=status]').textContent,
	join: document.querySelector('[data-testid=room-join]').textContent,
	placeholder: document.querySelector('[data-testid=room-input]').placeholder})`

func TestLanguageFromBrowser(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	anna := openIn(t, s, "/?room=sprachen", "Anna", "de-DE,de")
	bob := openIn(t, s, "/?room=sprachen", "Bob", "")
	for _, p := range []*page{anna, bob} {
		p.waitJoined()
	}
	anna.waitFor("Anna sees Bob", rowState("Bob")+` === 'idle'`, 20*time.Second)
	bob.waitFor("Bob sees Anna", rowState("Anna")+` === 'idle'`, 20*time.Second)

	var de, en pageWords
	anna.eval(readWords, &de)
	bob.eval(readWords, &en)
	wantDE := pageWords{Lang: "de", Languages: "de-DE,de", Self: "Du bist Anna", Heading: "In diesem Raum", Request: "Anfragen",
		Status: "Online", Join: "Beitreten", Placeholder: "ein Raumname"}
	wantEN := pageWords{Lang: "en", Languages: "en-US,en", Self: "You are Bob", Heading: "In this room", Request: "Request",
		Status: "Online", Join: "Join", Placeholder: "a room name"}
	if de != wantDE {
		t.Errorf("a German browser's page says\n  %+v\nwant\n  %+v", de, wantDE)
	}
	if en != wantEN {
		t.Errorf("an English browser's page says\n  %+v\nwant\n  %+v", en, wantEN)
	}

	// Numbers and plurals in the language: a size, and a request as the other side sees it.
	var size string
	anna.eval(`import('/app/dom.js').then((m) => m.formatBytes(1500000))`, &size)
	if size != "1,50 MB" {
		t.Errorf("German size %q, want 1,50 MB", size)
	}
	anna.click(member("Bob") + ` [data-testid=request]`)
	bob.waitFor("Bob sees the request, in English", `document.querySelector('[data-testid=request-banner] .text')?.textContent === 'Anna wants to connect with you.'`, 20*time.Second)
	bob.click(member("Anna") + ` [data-testid=decline]`)
	anna.waitFor("Anna reads Bob's decline in German", fmt.Sprintf(`document.querySelector(%s)?.textContent === 'Bob hat abgelehnt.'`,
		jsString(conversation("Bob")+` [data-testid=end-reason]`)), 20*time.Second)
	bob.waitFor("Bob reads his own in English", fmt.Sprintf(`document.querySelector(%s)?.textContent === 'You declined.'`,
		jsString(conversation("Anna")+` [data-testid=end-reason]`)), 20*time.Second)
	anna.waitFor("the German state label", fmt.Sprintf(`document.querySelector(%s)?.textContent === 'Abgelehnt'`,
		jsString(member("Bob")+` [data-testid=peer-state]`)), 5*time.Second)
}

func TestLanguageFromAddress(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	// ?lang= wins over the browser's languages, both ways, and stays in the address when the page moves.
	p := openIn(t, s, "/?room=a&lang=de", "Eve", "")
	p.waitJoined()
	p.waitFor("German", `document.documentElement.lang === 'de' && document.querySelector('[data-testid=self-name]').textContent === 'Du bist Eve'`, 5*time.Second)
	p.eval(`document.querySelector('[data-testid=room-input]').value = ''`, nil)
	p.do(chromedp.SendKeys(chromedp.CSS(`[data-testid=room-input]`), "b\r", chromedp.NodeVisible))
	p.waitFor("in room b, still German", `window.p2plobby.lobby.room === 'b' && location.search === '?room=b&lang=de'`, 10*time.Second)
	p.waitFor("the group in German", groupIs("room", "Raum „b“"), 5*time.Second)

	q := openIn(t, s, "/?room=a&lang=en", "Uwe", "de-DE,de")
	q.waitJoined()
	q.waitFor("English", `document.documentElement.lang === 'en' && document.querySelector('[data-testid=self-name]').textContent === 'You are Uwe'`, 5*time.Second)
	// A language without a table falls back to the first of the browser's that has one, then to English.
	r := openIn(t, s, "/?room=a", "Ana", "pt-BR,de")
	r.waitJoined()
	r.waitFor("German, the first with a table", `document.documentElement.lang === 'de'`, 5*time.Second)
}

// appKeys are the keys the app's files pass to t() and tNodes(), and the data-i18n* keys of index.html.
func appKeys(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../web/app/*")
	if err != nil {
		t.Fatal(err)
	}
	use := regexp.MustCompile(`\b(?:t|tNodes)\(\s*'([^']+)'`)
	attr := regexp.MustCompile(`data-i18n(?:-[a-z-]+)?="([^"]+)"`)
	seen := map[string]bool{}
	for _, f := range files {
		if !strings.HasSuffix(f, ".js") && !strings.HasSuffix(f, ".html") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range []*regexp.Regexp{use, attr} {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				seen[m[1]] = true
			}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) < 100 {
		t.Fatalf("found only %d keys in web/app: the pattern no longer matches how the app calls t()", len(keys))
	}
	return keys
}

func TestEveryLanguageHasEveryText(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	p := openIn(t, s, "/?room=keys", "Kim", "")
	p.waitJoined()
	var got struct {
		Missing map[string][]string // language → keys of English it lacks
		Extra   map[string][]string // language → keys English lacks
		Empty   []string
		Plural  []string // plural entries without "other"
		Unused  []string // keys the app uses that English lacks
		HTML    []string // English fallback text in index.html that differs from the table
	}
	p.eval(fmt.Sprintf(`(async () => {
		const { TABLES } = await import('/app/i18n.js');
		const en = Object.keys(TABLES.en);
		const out = { missing: {}, extra: {}, empty: [], plural: [], unused: [], html: [] };
		for (const [lang, table] of Object.entries(TABLES)) {
			const keys = Object.keys(table);
			out.missing[lang] = en.filter((k) => !keys.includes(k));
			out.extra[lang] = keys.filter((k) => !en.includes(k));
			for (const [k, v] of Object.entries(table)) {
				if (typeof v === 'string' ? !v.trim() : !v.other) (typeof v === 'string' ? out.empty : out.plural).push(lang + ':' + k);
			}
		}
		out.unused = %s.filter((k) => !en.includes(k));
		// The English left in index.html (for reading it) is the table's, so the two cannot drift apart.
		const doc = new DOMParser().parseFromString(await (await fetch('/')).text(), 'text/html');
		const norm = (x) => x.replace(/\s+/g, ' ').trim();
		for (const [data, attr] of [['i18n', ''], ['i18nTitle', 'title'], ['i18nPlaceholder', 'placeholder'], ['i18nAriaLabel', 'aria-label']]) {
			for (const el of doc.querySelectorAll('*')) {
				const k = el.dataset[data];
				if (!k) continue;
				const shown = attr ? el.getAttribute(attr) ?? '' : el.textContent;
				if (norm(shown) !== norm(TABLES.en[k] ?? '')) out.html.push(k + ': ' + JSON.stringify(norm(shown)));
			}
		}
		return out })()`, toJSArray(appKeys(t))), &got)
	for lang, keys := range got.Missing {
		if len(keys) > 0 {
			t.Errorf("%s lacks %d texts: %v", lang, len(keys), keys)
		}
	}
	for lang, keys := range got.Extra {
		if len(keys) > 0 {
			t.Errorf("%s has texts English lacks: %v", lang, keys)
		}
	}
	if len(got.Missing) < 2 {
		t.Errorf("languages %v: want English and at least one more", got.Missing)
	}
	for what, list := range map[string][]string{"empty texts": got.Empty, "plural texts without other": got.Plural,
		"keys the app uses that the table lacks": got.Unused, "index.html text that is not the table's": got.HTML} {
		if len(list) > 0 {
			t.Errorf("%s: %v", what, list)
		}
	}
}

func toJSArray(ss []string) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = jsString(s)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
