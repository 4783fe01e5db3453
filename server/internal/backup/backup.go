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

	"github.com/wirefleet/wirefleet/server/internal/datalock"
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
	return rel == dbName || strings.HasPrefix(base, dbName+"-") || base == "wirefleet.sock" || rel == datalock.Name || strings.HasPrefix(base, ".tmp-")
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

// ErrNoDatabase is returned for a backup whose manifest lists no
// database: restoring it would start an empty fleet with a new admin.
var ErrNoDatabase = errors.New("backup: the backup holds no database (" + dbName + "); it is not a server backup, and restoring it would start an empty fleet")

// Restore unpacks a backup into dataDir, which must not hold a database
// yet unless force is set. It returns the manifest.
//
// Nothing in dataDir changes until everything has been checked: the
// archive is unpacked into a staging directory beside the files it
// replaces (the same file system, so every move is a rename); each file
// is checked against the manifest; the staged database is checked (a
// sound SQLite file, a Wirefleet database, a schema this binary knows),
// migrated and its map history forgotten (store.ForgetMapHistory, so
// every agent gets a full map). Only then are the files swapped in, each
// replaced file moved aside first; if any move fails, every move is
// undone, and a directory restore created or found empty is left as it
// was. The data directory's lock (see datalock) is held throughout, so
// restore never runs under a live server.
//
// The data directory itself is never renamed: it is often a mount point
// (a container volume), which cannot be.
func Restore(ctx context.Context, r io.Reader, dataDir, passphrase string, force bool) (m Manifest, err error) {
	created := false
	if _, serr := os.Stat(dataDir); errors.Is(serr, fs.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	lock, err := datalock.Acquire(dataDir)
	if err != nil {
		if created {
			os.Remove(dataDir)
		}
		return m, fmt.Errorf("backup: %w", err)
	}
	defer func() {
		// The lock file goes if restore made it, and a failed restore
		// leaves a directory it made gone, so that a retry needs no
		// --force.
		lock.Release(true)
		if err != nil && created {
			os.Remove(dataDir)
		}
	}()
	if _, err := os.Stat(filepath.Join(dataDir, dbName)); err == nil && !force {
		return m, fmt.Errorf("backup: %s already holds a database; restore into an empty directory, or give --force to replace it (stop the server first)", dataDir)
	}
	stage, err := os.MkdirTemp(dataDir, ".tmp-restore-")
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(stage)
	if m, err = unpack(r, stage, passphrase); err != nil {
		return m, err
	}
	staged := filepath.Join(stage, dbName)
	if _, err := store.CheckFile(ctx, staged); err != nil {
		return m, fmt.Errorf("backup: the backup's database cannot be restored: %w", err)
	}
	db, err := store.Open(ctx, "sqlite://"+staged)
	if err != nil {
		return m, fmt.Errorf("backup: the backup's database does not open: %w", err)
	}
	err = db.ForgetMapHistory(ctx, MapJump)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	names := make([]string, 0, len(m.Files)+2)
	for n := range m.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	// A replaced database's journal must not be replayed onto the
	// restored one: it is moved aside with the database, and the staged
	// database's own journal (if closing left one) moves in with it.
	for _, side := range []string{"-wal", "-shm"} {
		names = append(names, dbName+side)
	}
	if err := swapIn(stage, dataDir, names); err != nil {
		return m, err
	}
	return m, nil
}

// unpack reads a backup (decrypting it with passphrase when it is
// encrypted) into stage, checking every file against the manifest, and
// returns the manifest.
func unpack(r io.Reader, stage, passphrase string) (Manifest, error) {
	var m Manifest
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
			if m, err = readManifest(tr, h.Size, m.Encrypted); err != nil {
				return m, err
			}
			if m.Files[dbName] == "" {
				return m, ErrNoDatabase
			}
			continue
		}
		name := h.Name
		want, ok := m.Files[name]
		if !ok || !fs.ValidPath(name) || h.Typeflag != tar.TypeReg || seen[name] || skip(name) && name != dbName {
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
	if len(seen) == 0 && m.Files == nil {
		return m, errors.New("backup: not a wirefleet backup (the archive is empty)")
	}
	for n := range m.Files {
		if !seen[n] {
			return m, fmt.Errorf("backup: the archive is cut short: %s is missing", n)
		}
	}
	return m, nil
}

// maxManifest bounds the manifest a restore reads.
const maxManifest = 1 << 20

// readManifest reads and checks the manifest, at most maxManifest bytes.
func readManifest(r io.Reader, size int64, encrypted bool) (Manifest, error) {
	var m Manifest
	if size > maxManifest {
		return m, fmt.Errorf("backup: the manifest is %d bytes, more than the %d a backup's manifest can be: not a wirefleet backup", size, maxManifest)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxManifest+1))
	if err != nil {
		return m, fmt.Errorf("backup: the archive is damaged: %w", err)
	}
	if len(b) > maxManifest {
		return m, fmt.Errorf("backup: the manifest is more than the %d bytes a backup's manifest can be: not a wirefleet backup", maxManifest)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("backup: the manifest is not valid JSON (%v): not a wirefleet backup", err)
	}
	if m.Format != Format {
		return m, fmt.Errorf("backup: manifest of format %d, this server reads format %d", m.Format, Format)
	}
	m.Encrypted = encrypted
	return m, nil
}

// swapIn moves the named files from stage into dataDir. Every file it
// replaces is first moved aside; a name whose place is taken by a
// directory (or whose parent is a file) is refused before anything
// moves; and if a rename still fails half-way, every move made so far is
// undone in reverse, so dataDir is as it was.
func swapIn(stage, dataDir string, names []string) error {
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(stage, filepath.FromSlash(n))); err != nil {
			continue // a journal that is not there
		}
		if err := placeFree(dataDir, n); err != nil {
			return err
		}
	}
	aside, err := os.MkdirTemp(dataDir, ".tmp-replaced-")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	keepAside := false
	defer func() {
		if !keepAside {
			os.RemoveAll(aside)
		}
	}()
	type move struct{ from, to string }
	var done []move
	var dirs []string // directories made, to remove on undo
	undo := func(cause error) error {
		var errs []error
		for i := len(done) - 1; i >= 0; i-- {
			if err := os.Rename(done[i].to, done[i].from); err != nil {
				errs = append(errs, err)
			}
		}
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
		if len(errs) > 0 {
			keepAside = true
			return fmt.Errorf("backup: %w; undoing it failed too, the files moved aside are in %s: %v", cause, aside, errors.Join(errs...))
		}
		return fmt.Errorf("backup: %w; nothing was changed", cause)
	}
	rename := func(from, to string) error {
		if err := mkdirs(filepath.Dir(to), &dirs); err != nil {
			return err
		}
		if err := os.Rename(from, to); err != nil {
			return err
		}
		done = append(done, move{from, to})
		return nil
	}
	for _, n := range names {
		src := filepath.Join(stage, filepath.FromSlash(n))
		dst := filepath.Join(dataDir, filepath.FromSlash(n))
		if _, err := os.Lstat(dst); err == nil {
			if err := rename(dst, filepath.Join(aside, filepath.FromSlash(n))); err != nil {
				return undo(err)
			}
		}
		if _, err := os.Lstat(src); err != nil {
			continue
		}
		if err := rename(src, dst); err != nil {
			return undo(err)
		}
	}
	return nil
}

// placeFree checks that dataDir/name can become a file: it is not a
// directory, and none of its parents is a file.
func placeFree(dataDir, name string) error {
	p := dataDir
	parts := strings.Split(name, "/")
	for i, part := range parts {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		last := i == len(parts)-1
		if last && fi.IsDir() || !last && !fi.IsDir() {
			return fmt.Errorf("backup: %s is in the way of the backup's %s (a %s where the backup has a %s); move it away and restore again. Nothing was changed",
				p, name, kind(fi), map[bool]string{true: "file", false: "directory"}[last])
		}
	}
	return nil
}

func kind(fi fs.FileInfo) string {
	if fi.IsDir() {
		return "directory"
	}
	return "file"
}

// mkdirs makes dir and its missing parents, recording each one made.
func mkdirs(dir string, made *[]string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirs(filepath.Dir(dir), made); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	*made = append(*made, dir)
	return nil
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
