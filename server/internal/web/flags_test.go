package web_test

import (
	"context"
	"html"
	"net/url"
	"strings"
	"testing"
)

// The flag form's errors speak the user's words, not Go's, and editing a
// flag cannot silently create a second one under a changed key.
func TestFlagFormErrorsSpeakPlainly(t *testing.T) {
	base, password, admin := server(t)
	c := browser()
	login := get(t, c, base+"/login")
	resp, err := c.PostForm(base+"/login", url.Values{"csrf": {csrfOf(login)}, "username": {"admin"}, "password": {password}})
	body(t, resp, err)
	csrf := csrfOf(get(t, c, base+"/flags"))
	save := func(v url.Values) string {
		v.Set("csrf", csrf)
		for k, d := range map[string]string{"type": "boolean", "default": "false", "enabled": "on"} {
			if v.Get(k) == "" {
				v.Set(k, d)
			}
		}
		resp, err := c.PostForm(base+"/flags", v)
		return html.UnescapeString(body(t, resp, err))
	}
	for rules, want := range map[string]string{
		`{}`:                     "the whole value must be a list, not object",
		`[{"tags": "env:prod"}]`: `"tags" must be a list, not string`,
		`[{"bogus": 1}]`:         `unknown field "bogus" (a rule knows tags`,
		"[\n{":                   "it ends early",
		"[\n{,}]":                "not valid JSON on line 2",
	} {
		page := save(url.Values{"key": {"checkout"}, "rules": {rules}})
		if !strings.Contains(page, want) || strings.Contains(page, "Go value") || strings.Contains(page, "wire.") {
			t.Errorf("rules %q: the page should say %q, in plain words:\n%s", rules, want, errorBox(page))
		}
	}
	if page := save(url.Values{"key": {"checkout"}}); !strings.Contains(page, "Flag checkout saved") {
		t.Fatalf("saving a flag:\n%s", errorBox(page))
	}
	edit := get(t, c, base+"/flags?edit=checkout")
	if !strings.Contains(edit, `name="original" value="checkout"`) || !strings.Contains(edit, "readonly") {
		t.Errorf("the edit form should carry the key it edits, read-only")
	}
	if page := save(url.Values{"key": {"checkout-v2"}, "original": {"checkout"}}); !strings.Contains(page, "key cannot change") {
		t.Errorf("a changed key in the edit form:\n%s", errorBox(page))
	}
	fl, err := admin.ListFlags(context.Background())
	if err != nil || len(fl) != 1 || fl[0].Key != "checkout" {
		t.Fatalf("flags after editing: %+v (%v), want checkout alone", fl, err)
	}
}

// errorBox is the page's error notice, or the page when it has none.
func errorBox(page string) string {
	if i := strings.Index(page, `class="error"`); i >= 0 {
		return page[i:min(len(page), i+400)]
	}
	return page
}
