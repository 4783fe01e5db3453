// Package backup writes a server's state to one file and restores it: a
// consistent copy of the SQLite database taken while the server runs
// (VACUUM INTO), and the files of the data directory the server needs to
// be the same server (TLS certificate and key, release signing keys,
// published releases) — gzip'ed tar, encrypted with a passphrase (age,
// scrypt) when one is given.
//
// A manifest, first in the archive, lists every file with its SHA-256;
// Restore checks each against it and writes nothing into the data
// directory until all of them have arrived whole.
package backup

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/wirefleet/wirefleet/server/internal/store"
)

// Format is the archive layout's version.
const Format = 1

const (
	manifestName = "MANIFEST.json"
	dbName       = "wirefleet.db"
	ageHeader    = "age-encryption.org/v1"
	// MapJump is how far a restore moves the network-map version (see
	// store.ForgetMapHistory).
	MapJump = 1_000_000
)

// Manifest describes a backup.
type Manifest struct {
	Format        int               `json:"format"`
	CreatedAt     time.Time         `json:"created_at"`
	ServerVersion string            `json:"server_version"`
	Schema        int               `json:"schema"`
	Files         map[string]string `json:"files"` // archive path → SHA-256 (hex)
	Encrypted     bool              `json:"-"`
}

// skip names data-directory files that are not copied: the live database
// (a snapshot goes in its place) and the admin socket.
func skip(rel string) bool {
	base := path.Base(rel)
	return rel == dbName || strings.HasPrefix(base, dbName+"-") || base == "wirefleet.sock" || strings.HasPrefix(base, ".tmp-")
}

// Create writes a backup of the server whose database is db and whose
// data directory is dataDir to w; with a passphrase it is encrypted.
func Create(ctx context.Context, db *store.DB, dataDir, serverVersion, passphrase string, w io.Writer) (Manifest, error) {
	m := Manifest{Format: Format, CreatedAt: time.Now().UTC(), ServerVersion: serverVersion, Files: map[string]string{}}
	tmp, err := os.MkdirTemp(dataDir, ".tmp-backup-")
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	snap := filepath.Join(tmp, dbName)
	if err := db.Snapshot(ctx, snap); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if m.Schema, err = db.SchemaVersion(ctx); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	files := map[string]string{dbName: snap} // archive path → file
	err = filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == tmp {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dataDir, p)
		rel = filepath.ToSlash(rel)
		if !skip(rel) {
			files[rel] = p
		}
		return nil
	})
	if err != nil {
		return m, fmt.Errorf("backup: read %s: %w", dataDir, err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
		sum, err := fileSHA256(files[n])
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		m.Files[n] = sum
	}
	sort.Strings(names)

	out := w
	var enc io.WriteCloser
	if passphrase != "" {
		r, err := age.NewScryptRecipient(passphrase)
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		if enc, err = age.Encrypt(w, r); err != nil {
			return m, fmt.Errorf("backup: encrypt: %w", err)
		}
		out, m.Encrypted = enc, true
	}
	gz := gzip.NewWriter(out)
	tw := tar.NewWriter(gz)
	mb, _ := json.MarshalIndent(m, "", "  ")
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(mb)), ModTime: m.CreatedAt}); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if _, err := tw.Write(mb); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	for _, n := range names {
		if err := addFile(tw, n, files[n]); err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if err := gz.Close(); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
	}
	return m, nil
}

func addFile(tw *tar.Writer, name, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrPassphrase is returned for an encrypted backup without a passphrase
// or with the wrong one.
var ErrPassphrase = errors.New("backup: the backup is encrypted: give its passphrase (--passphrase-file), and the right one")

// Restore unpacks a backup into dataDir, which must not hold a database
// yet unless force is set. Every file is checked against the manifest
// before any is moved into place; then the restored database's map
// history is forgotten (store.ForgetMapHistory) so that every agent gets a
// full map. It returns the manifest.
func Restore(ctx context.Context, r io.Reader, dataDir, passphrase string, force bool) (Manifest, error) {
	var m Manifest
	if _, err := os.Stat(filepath.Join(dataDir, dbName)); err == nil && !force {
		return m, fmt.Errorf("backup: %s already holds a database; restore into an empty directory, or give --force to replace it (stop the server first)", dataDir)
	}
	br := bufio.NewReader(r)
	head, _ := br.Peek(len(ageHeader))
	var in io.Reader = br
	if string(head) == ageHeader {
		if passphrase == "" {
			return m, ErrPassphrase
		}
		id, err := age.NewScryptIdentity(passphrase)
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		dec, err := age.Decrypt(br, id)
		if err != nil {
			return m, fmt.Errorf("%w (%v)", ErrPassphrase, err)
		}
		in, m.Encrypted = dec, true
	}
	gz, err := gzip.NewReader(in)
	if err != nil {
		return m, fmt.Errorf("backup: not a wirefleet backup (%v)", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	stage, err := os.MkdirTemp(dataDir, ".tmp-restore-")
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(stage)
	tr := tar.NewReader(gz)
	seen := map[string]bool{}
	for i := 0; ; i++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, fmt.Errorf("backup: the archive is damaged or cut short: %w", err)
		}
		if i == 0 {
			if h.Name != manifestName {
				return m, errors.New("backup: not a wirefleet backup (no manifest first)")
			}
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return m, fmt.Errorf("backup: the archive is damaged: %w", err)
			}
			enc := m.Encrypted
			if err := json.Unmarshal(b, &m); err != nil || m.Format != Format {
				return m, fmt.Errorf("backup: manifest of format %d, this server reads format %d (%v)", m.Format, Format, err)
			}
			m.Encrypted = enc
			continue
		}
		name := h.Name
		want, ok := m.Files[name]
		if !ok || !fs.ValidPath(name) || h.Typeflag != tar.TypeReg || seen[name] {
			return m, fmt.Errorf("backup: unexpected entry %q in the archive", name)
		}
		seen[name] = true
		dst := filepath.Join(stage, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		if err := writeChecked(dst, tr, os.FileMode(h.Mode).Perm()|0o600, want); err != nil {
			return m, fmt.Errorf("backup: %s: %w", name, err)
		}
	}
	for n := range m.Files {
		if !seen[n] {
			return m, fmt.Errorf("backup: the archive is cut short: %s is missing", n)
		}
	}
	// All there and whole: move into place.
	for n := range m.Files {
		dst := filepath.Join(dataDir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		if n == dbName {
			for _, side := range []string{"-wal", "-shm"} {
				os.Remove(dst + side) // a replaced database's journal must not be replayed onto the restored one
			}
		}
		if err := os.Rename(filepath.Join(stage, filepath.FromSlash(n)), dst); err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
	}
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(dataDir, dbName))
	if err != nil {
		return m, fmt.Errorf("backup: the restored database does not open: %w", err)
	}
	defer db.Close()
	if err := db.ForgetMapHistory(ctx, MapJump); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

// writeChecked writes r to path and checks its SHA-256.
func writeChecked(path string, r io.Reader, mode os.FileMode, want string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		f.Close()
		return fmt.Errorf("the archive is damaged or cut short: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("checksum %s…, the manifest says %s…: the archive is damaged", got[:12], want[:min(12, len(want))])
	}
	return nil
}
