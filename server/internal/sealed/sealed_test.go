package sealed

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// grepDir fails when any file under dir contains one of the needles.
func grepDir(t *testing.T, dir string, needles ...[]byte) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds %q in the clear", p, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func newDataDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

var tlsPEM = []byte("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n")

func TestNewDirectoryIsSealedWithAKeyFileBesideIt(t *testing.T) {
	dir := newDataDir(t)
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode() != Sealed || !s.Created() {
		t.Fatalf("mode %s created %v, want a new sealed store", s.Mode(), s.Created())
	}
	kf := DefaultKeyFile(dir)
	if fi, err := os.Stat(kf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v %v", kf, fi, err)
	}
	if err := s.Put(TLSKey, tlsPEM); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(MetricsToken, []byte("metrics-token-value-1234"), "test"); err != nil {
		t.Fatal(err)
	}
	grepDir(t, dir, []byte("PRIVATE KEY"), []byte("metrics-token-value-1234"))

	// Reopened: the same key, the same secrets, no new key.
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Created() {
		t.Error("a second open made a new KEK")
	}
	got, err := s2.Get(TLSKey)
	if err != nil || !bytes.Equal(got, tlsPEM) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if _, err := s2.Get(SSOClientSecret); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing secret: %v, want ErrNotExist", err)
	}
	st := s2.Status()
	if st.Mode != Sealed || len(st.Secrets) != 2 || st.Secrets[0].Name != MetricsToken || !strings.Contains(st.Source, kf) {
		t.Errorf("status %+v", st)
	}
}

func TestPlainDirectoryStaysPlainUntilSealed(t *testing.T) {
	dir := newDataDir(t)
	if err := os.WriteFile(filepath.Join(dir, TLSKey), tlsPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "release-keys"), 0o700)
	signing := []byte("RWRTY0IyAAAAAAAAAAAAsigningkeybytes")
	os.WriteFile(filepath.Join(dir, filepath.FromSlash(ReleaseSigning)), signing, 0o600)
	os.MkdirAll(filepath.Join(dir, "acme"), 0o700)
	os.WriteFile(filepath.Join(dir, "acme", "acme_account+key"), []byte("-----BEGIN EC PRIVATE KEY-----acct"), 0o600)

	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode() != Plain {
		t.Fatalf("an existing plain directory opened %s", s.Mode())
	}
	if got, _ := s.Get(TLSKey); !bytes.Equal(got, tlsPEM) {
		t.Fatalf("plain Get = %q", got)
	}
	if err := s.Set(MetricsToken, []byte("x"), "t"); err == nil {
		t.Error("a plain store took a flag's secret")
	}
	if err := s.Seal(KEKOptions{}); err != nil {
		t.Fatal(err)
	}
	if s.Mode() != Sealed {
		t.Fatal("not sealed")
	}
	if left := s.PlainFiles(); len(left) != 0 {
		t.Errorf("plain files left: %v", left)
	}
	grepDir(t, dir, []byte("PRIVATE KEY"), signing)
	for name, want := range map[string][]byte{TLSKey: tlsPEM, ReleaseSigning: signing, ACMEPrefix + "acme_account+key": []byte("-----BEGIN EC PRIVATE KEY-----acct")} {
		got, err := s.Get(name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after sealing = %q, %v", name, got, err)
		}
	}
	// The next start opens it sealed (auto), and plain refuses it.
	if s2, err := Open(dir, Options{}); err != nil || s2.Mode() != Sealed {
		t.Fatalf("reopen: %v", err)
	}
	if _, err := Open(dir, Options{Mode: Plain}); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Errorf("--secrets=plain on a sealed store: %v", err)
	}
}

func TestSealedModeSealsPlainFilesAtStartUntilTheFallbackDay(t *testing.T) {
	day := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		now     time.Time
		mode    Mode
		wantErr bool
	}{
		{"sealed before the day seals", day.Add(-time.Hour), Sealed, false},
		{"sealed after the day refuses", day.Add(time.Hour), Sealed, true},
		{"plain before the day opens", day.Add(-time.Hour), Auto, false},
		{"plain after the day refuses", day.Add(time.Hour), Auto, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDataDir(t)
			if tc.mode == Sealed {
				// A sealed store in which a plain file appears.
				if _, err := Open(dir, Options{}); err != nil {
					t.Fatal(err)
				}
			}
			os.WriteFile(filepath.Join(dir, TLSNextKey), tlsPEM, 0o600)
			s, err := Open(dir, Options{Mode: tc.mode, PlainFallbackUntil: day, Now: func() time.Time { return tc.now }})
			if tc.wantErr {
				if !errors.Is(err, ErrPlainRefused) || !strings.Contains(err.Error(), TLSNextKey) {
					t.Fatalf("err = %v, want the plain file refused by name", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.mode == Sealed {
				if got, err := s.Get(TLSNextKey); err != nil || !bytes.Equal(got, tlsPEM) {
					t.Fatalf("sealed at start: %q %v", got, err)
				}
				grepDir(t, dir, []byte("PRIVATE KEY"))
			}
		})
	}
}

func TestTheWrongOrMissingKEKIsRefusedByName(t *testing.T) {
	dir := newDataDir(t)
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Put(TLSKey, tlsPEM)
	kf := DefaultKeyFile(dir)

	other := filepath.Join(t.TempDir(), "other.kek")
	if _, err := Open(newDataDir(t), Options{KEK: KEKOptions{KeyFile: other}}); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{KEK: KEKOptions{KeyFile: other}})
	if err == nil || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "sealed to age1") {
		t.Errorf("another store's key: %v", err)
	}

	os.Rename(kf, kf+".moved")
	_, err = Open(dir, Options{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), kf) {
		t.Errorf("missing key file: %v, want it named", err)
	}
	if _, err := os.Stat(kf); err == nil {
		t.Error("a sealed store made itself a new key")
	}

	os.Rename(kf+".moved", kf)
	os.Chmod(kf, 0o644)
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key file: %v", err)
	}
	os.Chmod(kf, 0o600)

	if _, err := Open(dir, Options{KEK: KEKOptions{KeyFile: filepath.Join(dir, "k")}}); err == nil || !strings.Contains(err.Error(), "inside the data directory") {
		t.Errorf("key file inside the data dir: %v", err)
	}

	os.WriteFile(filepath.Join(dir, dirName, indexName), []byte(`{"format":1,`), 0o600)
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("torn index: %v", err)
	}
}

func TestPassphraseKEK(t *testing.T) {
	dir := newDataDir(t)
	t.Setenv("WF_TEST_PASS", "correct horse battery")
	o := Options{KEK: KEKOptions{PassphraseEnv: "WF_TEST_PASS"}}
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	s.Put(TLSKey, tlsPEM)
	if _, err := os.Stat(DefaultKeyFile(dir)); err == nil {
		t.Error("a passphrase store wrote a key file")
	}
	grepDir(t, dir, []byte("PRIVATE KEY"), []byte("AGE-SECRET-KEY"))
	if s2, err := Open(dir, o); err != nil {
		t.Fatal(err)
	} else if got, _ := s2.Get(TLSKey); !bytes.Equal(got, tlsPEM) {
		t.Fatal("reopened with the passphrase: wrong secret")
	}
	t.Setenv("WF_TEST_PASS", "wrong horse battery")
	if _, err := Open(dir, o); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Errorf("wrong passphrase: %v", err)
	}
	t.Setenv("WF_TEST_PASS", "short")
	if _, err := Open(dir, o); err == nil || !strings.Contains(err.Error(), "at least 12") {
		t.Errorf("short passphrase: %v", err)
	}
}

func TestRotateKEK(t *testing.T) {
	dir := newDataDir(t)
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Put(TLSKey, tlsPEM)
	s.Set(SSOClientSecret, []byte("sso-secret-value"), "test")
	kf := DefaultKeyFile(dir)
	oldKey, _ := os.ReadFile(kf)
	before := s.Status().Recipient
	after, err := s.RotateKEK()
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Fatal("the recipient did not change")
	}
	newKey, _ := os.ReadFile(kf)
	if bytes.Equal(oldKey, newKey) {
		t.Fatal("the key file was not replaced")
	}
	if _, err := os.Stat(kf + ".next"); err == nil {
		t.Error(".next left behind")
	}
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s2.Get(SSOClientSecret); string(got) != "sso-secret-value" {
		t.Errorf("after rotation: %q", got)
	}
	// The old key opens nothing any more.
	old := filepath.Join(t.TempDir(), "old.kek")
	os.WriteFile(old, oldKey, 0o600)
	if _, err := Open(dir, Options{KEK: KEKOptions{KeyFile: old}}); err == nil {
		t.Error("the old KEK still opens the store")
	}

	t.Run("interrupted before the new key replaced the old", func(t *testing.T) {
		// The state a crash leaves between writing the index and the
		// rename: the source holds the previous key, .next the new one,
		// the index names both.
		cur, _ := os.ReadFile(kf)
		if _, err := s2.RotateKEK(); err != nil {
			t.Fatal(err)
		}
		rotated, _ := os.ReadFile(kf)
		os.WriteFile(kf+".next", rotated, 0o600)
		os.WriteFile(kf, cur, 0o600)
		ix, err := readIndex(dir)
		if err != nil {
			t.Fatal(err)
		}
		ix.Previous = mustIdentity(t, cur).Recipient().String()
		s3 := &Store{dir: dir, now: time.Now, idx: ix, src: source{kind: "key file", path: kf}, kek: mustIdentity(t, rotated)}
		if err := s3.writeIndex(); err != nil {
			t.Fatal(err)
		}
		// Files were sealed to both during the window.
		s3.writeSealed(SSOClientSecret, []byte("sso-secret-value"))
		s3.writeSealed(TLSKey, tlsPEM)

		s4, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(kf); !bytes.Equal(got, rotated) {
			t.Error("the new key was not put in place")
		}
		if got, _ := s4.Get(SSOClientSecret); string(got) != "sso-secret-value" {
			t.Errorf("after recovery: %q", got)
		}
		if ix, _ := readIndex(dir); ix.Previous != "" {
			t.Error("Previous left in the index")
		}
	})
}

// TestSystemdCredential follows the $CREDENTIALS_DIRECTORY contract with
// what systemd-creds decrypt gives a service: the KEK is sealed with
// systemd-creds encrypt (host key, or TPM2 where there is one) and
// decrypted into the directory systemd would hand the service. PID 1 is
// not systemd here, so LoadCredentialEncrypted= itself does not run.
func TestSystemdCredential(t *testing.T) {
	if _, err := exec.LookPath("systemd-creds"); err != nil {
		t.Skip("systemd-creds not installed (Debian's systemd package; .ci/run installs it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("systemd-creds encrypt with the host key needs root (CI runs as root)")
	}
	work := t.TempDir()
	kek := filepath.Join(work, "kek")
	// Make a KEK the way an operator would: a key file, then sealed by
	// systemd-creds and the file shredded.
	if _, err := Open(newDataDir(t), Options{KEK: KEKOptions{KeyFile: kek}}); err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join(work, "wirefleet-kek.cred")
	if out, err := exec.Command("systemd-creds", "encrypt", "--name=wirefleet-kek", kek, enc).CombinedOutput(); err != nil {
		t.Skipf("systemd-creds encrypt: %v: %s (no host credential key can be made here)", err, out)
	}
	if b, _ := os.ReadFile(enc); bytes.Contains(b, []byte("AGE-SECRET-KEY")) {
		t.Fatal("the encrypted credential holds the key in the clear")
	}
	creds := filepath.Join(work, "credentials")
	os.Mkdir(creds, 0o700)
	if out, err := exec.Command("systemd-creds", "decrypt", "--name=wirefleet-kek", enc, filepath.Join(creds, DefaultCredential)).CombinedOutput(); err != nil {
		t.Fatalf("systemd-creds decrypt: %v: %s", err, out)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	dir := newDataDir(t)
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Source(), "systemd credential") || s.Created() {
		t.Fatalf("source %q created %v: want the credential, no new key", s.Source(), s.Created())
	}
	if _, err := os.Stat(DefaultKeyFile(dir)); err == nil {
		t.Error("a key file was made beside the credential")
	}
	s.Put(TLSKey, tlsPEM)
	if _, err := s.RotateKEK(); err == nil || !strings.Contains(err.Error(), "systemd-creds") {
		t.Errorf("rotating a credential's KEK: %v", err)
	}
	// Without the credential the sealed store does not open, and says
	// what it tried.
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), DefaultKeyFile(dir)) {
		t.Errorf("without the credential: %v", err)
	}
}

func mustIdentity(t *testing.T, keyFile []byte) *age.X25519Identity {
	t.Helper()
	ids, err := age.ParseIdentities(bytes.NewReader(keyFile))
	if err != nil {
		t.Fatal(err)
	}
	return ids[0].(*age.X25519Identity)
}

// FuzzStoreFiles feeds arbitrary bytes as the index, a sealed secret and
// the key file: Open and Get fail with an error (naming the file), never
// panic, and never return a secret that was not sealed to the key.
func FuzzStoreFiles(f *testing.F) {
	f.Add([]byte(`{"format":1,"recipient":"age1x","secrets":{}}`), []byte("age-encryption.org/v1\n-> X25519 abc\n"), []byte("AGE-SECRET-KEY-1"))
	f.Add([]byte(`{"format":1,"recipient":"","secrets":null}`), []byte{}, []byte("# created\n"))
	f.Fuzz(func(t *testing.T, idx, secretFile, keyFile []byte) {
		dir := filepath.Join(t.TempDir(), "data")
		os.MkdirAll(filepath.Join(dir, dirName), 0o700)
		os.WriteFile(filepath.Join(dir, dirName, indexName), idx, 0o600)
		os.WriteFile(filepath.Join(dir, dirName, fileName(TLSKey)), secretFile, 0o600)
		os.WriteFile(DefaultKeyFile(dir), keyFile, 0o600)
		ReadStatus(dir)
		s, err := Open(dir, Options{})
		if err != nil {
			return
		}
		if got, err := s.Get(TLSKey); err == nil && len(got) > 0 && !bytes.Contains(secretFile, []byte("age-encryption.org")) {
			t.Fatalf("a secret came out of a file that is no age file: %q", got)
		}
	})
}
