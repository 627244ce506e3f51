package lint

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every text the page shows lives in web/app/i18n.js (issue 9, item 10). This check finds the usual ways a text
// written in place slips back in: a string literal with words assigned to textContent, title, placeholder,
// alt or returnValue; given as title, placeholder, aria-label, alt, label, text or body in an object; passed to
// note(), toast() or notify(); or given as a child to h() right after its attributes. It reads source lines,
// so it can miss a text built some other way: it is a net, not a proof.

// textExempt are the files of web/app whose strings are not the app's words: the table itself, the service
// worker (no UI), and the QR encoder (its default label is overridden by the app).
var textExempt = map[string]bool{"i18n.js": true, "sw.js": true, "qr.js": true}

var (
	// literal is a string literal in single quotes, double quotes or backquotes; its text is in one of 3 groups.
	literal      = `(?:'((?:\\.|[^'\\])*)'|"((?:\\.|[^"\\])*)"|` + "`((?:\\\\.|[^`\\\\])*)`)"
	textPatterns = []*regexp.Regexp{
		regexp.MustCompile(`\b(?:textContent|innerText|title|placeholder|alt|returnValue)\s*=\s*` + literal),
		regexp.MustCompile(`(?:\b(?:title|placeholder|alt|label|text|body)|'aria-label'|"aria-label")\s*:\s*` + literal),
		regexp.MustCompile(`\b(?:note|toast|notify)\(\s*` + literal),
		regexp.MustCompile(`\}\s*,\s*` + literal + `\s*[,)]`),
	}
	interpolation = regexp.MustCompile(`\$\{[^}]*\}`)
	word          = regexp.MustCompile(`\p{L}{3,}`)
)

// userText returns the string literals of line that look like words for people.
func userText(line string) []string {
	trimmed := strings.TrimSpace(line)
	if strings.HasPrefix(trimmed, "//") || strings.HasPrefix(trimmed, "*") || strings.HasPrefix(trimmed, "/*") {
		return nil
	}
	var out []string
	for _, re := range textPatterns {
		for _, m := range re.FindAllStringSubmatch(line, -1) {
			text := interpolation.ReplaceAllString(m[1]+m[2]+m[3], "")
			if word.MatchString(strings.ReplaceAll(text, "p2plobby", "")) {
				out = append(out, m[0])
			}
		}
	}
	return out
}

func TestTextCheckFindsLiterals(t *testing.T) {
	for _, c := range []struct {
		line  string
		found bool
	}{
		{`  el.textContent = 'Online';`, true},
		{"  this.input.placeholder = `Message ${this.name}`;", true},
		{`    h('button', { 'aria-label': 'Dismiss', onclick: () => note.remove() }, '×'));`, true},
		{`      onclick: () => p.accept() }, 'Accept'));`, true},
		{"      this.note(`Not sent: ${err.message}`);", true},
		{`    toast('Link copied.');`, true},
		{`  const el = h('span', { title: t('self.title') }, t('anonymous'));`, false},
		{`  el.textContent = '';`, false},
		{"  mark.textContent = `${a} ${b}`;", false},
		{`    await navigator.share({ title: 'p2plobby', text: t('share.text'), url });`, false},
		{`  // el.textContent = 'Online';`, false},
		{`    h('span', { class: 'ticon', 'aria-hidden': 'true' }, send ? '↑' : '↓'),`, false},
	} {
		if got := len(userText(c.line)) > 0; got != c.found {
			t.Errorf("%q: found %v, want %v", c.line, got, c.found)
		}
	}
}

// TestNoTextOutsideTable fails when a file of web/app writes words for people outside web/app/i18n.js.
func TestNoTextOutsideTable(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(moduleRoot(t), "web", "app", "*.js"))
	if err != nil || len(files) < 5 {
		t.Fatalf("web/app/*.js: %d files, %v", len(files), err)
	}
	for _, f := range files {
		if textExempt[filepath.Base(f)] {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, s := range userText(line) {
				t.Errorf("web/app/%s:%d: text for people outside web/app/i18n.js: %s", filepath.Base(f), i+1, s)
			}
		}
	}
}
