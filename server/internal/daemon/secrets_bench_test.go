package daemon

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/server/internal/sealed"
	"github.com/wirefleet/wirefleet/server/internal/tlsutil"
)

// BenchmarkStartSecrets is what a start spends on its secrets: opening
// the store, the TLS keys and the single-box signing key — plain files,
// sealed under a key file, sealed under a passphrase (age's scrypt, a
// deliberate ~1 s).
func BenchmarkStartSecrets(b *testing.B) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"plain", Options{Secrets: "plain"}},
		{"sealed-key-file", Options{Secrets: "sealed"}},
		{"sealed-passphrase", Options{Secrets: "sealed", SecretsKEK: sealed.KEKOptions{PassphraseEnv: "WF_BENCH_PASS"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.Setenv("WF_BENCH_PASS", "a passphrase for the benchmark")
			o := tc.o
			o.DataDir = filepath.Join(b.TempDir(), "data")
			os.Mkdir(o.DataDir, 0o700)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			open := func() {
				sec, err := openSecrets(o, io.Discard, log)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tlsutil.OpenKeysIn(o.DataDir, sec.store, []string{"127.0.0.1"}); err != nil {
					b.Fatal(err)
				}
				keys := sec.releaseKeys()
				if _, err := keys.ReadFile(release.SigningKeyFile); err != nil {
					if err := release.KeygenIn(keys, "", 24*3600e9); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := release.LoadSignerIn(keys, ""); err != nil {
					b.Fatal(err)
				}
			}
			open() // the first start makes every key
			b.ResetTimer()
			for range b.N {
				open()
			}
		})
	}
}
