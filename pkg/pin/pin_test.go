package pin

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
)

func TestFormatAndParse(t *testing.T) {
	h := sha256.Sum256([]byte("key"))
	p := Format(h[:])
	if !strings.HasPrefix(p, "sha256/") {
		t.Fatalf("Format = %q", p)
	}
	got, err := Parse(p)
	if err != nil || !bytes.Equal(got, h[:]) {
		t.Fatalf("Parse(Format(h)) = %x %v", got, err)
	}
	for _, bad := range []string{"", "sha1/abc", "sha256/", "sha256/not base64!", "sha256/" + strings.Repeat("A", 40)} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) passed", bad)
		}
	}
}
