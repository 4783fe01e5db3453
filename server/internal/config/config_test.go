package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func flags() (*pflag.FlagSet, *string, *time.Duration, *[]string) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	listen := fs.String("listen", ":8443", "")
	ttl := fs.Duration("token-ttl", 24*time.Hour, "")
	domains := fs.StringSlice("oidc-allowed-domains", nil, "")
	fs.String("config", "", "")
	return fs, listen, ttl, domains
}

// The command line wins over the environment, which wins over the file;
// the file's lists become the flag's comma-separated value.
func TestPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wf.yaml")
	os.WriteFile(path, []byte("listen: :9000\ntoken-ttl: 2h\noidc-allowed-domains: [a.example, b.example]\n"), 0o600)
	t.Setenv("WIREFLEET_TOKEN_TTL", "3h")
	fs, listen, ttl, domains := flags()
	if err := fs.Parse([]string{"--listen", ":7000"}); err != nil {
		t.Fatal(err)
	}
	if err := Apply(fs, path); err != nil {
		t.Fatal(err)
	}
	if *listen != ":7000" || *ttl != 3*time.Hour || strings.Join(*domains, ",") != "a.example,b.example" {
		t.Fatalf("listen %q, ttl %v, domains %v", *listen, *ttl, *domains)
	}
}

// A file that cannot be what the operator meant is refused, naming the
// file and the setting.
func TestBadFilesAreRefused(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"unknown key", "listn: :9000\n", `unknown setting "listn"`},
		{"a key twice", "listen: :9000\nlisten: :9001\n", "already defined"},
		{"a bad value", "token-ttl: soon\n", "token-ttl"},
		{"not YAML", "listen: [\n", "parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wf.yaml")
			os.WriteFile(path, []byte(tc.text), 0o600)
			fs, _, _, _ := flags()
			fs.Parse(nil)
			if err := Apply(fs, path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	fs, _, _, _ := flags()
	fs.Parse(nil)
	if err := Apply(fs, filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("a missing file passed")
	}
	t.Setenv("WIREFLEET_TOKEN_TTL", "soon")
	if err := Apply(fs, ""); err == nil || !strings.Contains(err.Error(), "WIREFLEET_TOKEN_TTL") {
		t.Fatalf("a bad environment value: %v", err)
	}
}
