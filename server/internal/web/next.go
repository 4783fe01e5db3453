package web

import (
	"net/url"
	"strings"
	"unicode"
)

// maxNext bounds a return address; the console's own are far shorter.
const maxNext = 2000

// safeNext returns next, re-escaped, when it is a path on this server with
// an optional query ("/e/KQ7X-M3PA", "/machines?state=offline&per=500"),
// else "": sign-in, SSO and the bulk actions never send anyone elsewhere.
//
// The value passes through several decoders before a browser acts on it
// (the query string, a form field, a cookie, the Location header), and
// each decodes once more: "/%25255Cevil.example" became "/\evil.example",
// which browsers read as "//evil.example". So the check is made on the
// value decoded until it no longer changes, and an address that is
// encoded more deeply than any link the console makes is refused.
func safeNext(next string) string {
	if next == "" || len(next) > maxNext {
		return ""
	}
	decoded := next
	for i := 0; ; i++ {
		d, err := url.PathUnescape(decoded)
		if err != nil {
			return ""
		}
		if d == decoded {
			break
		}
		if i == 3 {
			return "" // still changing after four decodings
		}
		decoded = d
	}
	if !localPath(decoded) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !localPath(u.Path) {
		return ""
	}
	out := u.EscapedPath()
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}

// localPath reports whether p, fully decoded, can only name a path on
// this server: one leading slash and no second one after it, no
// backslash (browsers read it as a slash), no control or space
// characters a browser strips before parsing.
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsRune(p, '\\') {
		return false
	}
	for _, r := range p {
		if unicode.IsControl(r) || unicode.IsSpace(r) && r != ' ' || r == unicode.ReplacementChar {
			return false
		}
	}
	return true
}
