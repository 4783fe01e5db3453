package keystore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
)

// FileStore keeps each secret in its own file, readable only by the owner,
// in a directory only the owner can enter. It is the fallback on Linux when
// systemd credentials are not available, and it is what the encrypting
// stores use to hold their ciphertext (with a transform applied).
type FileStore struct {
	dir     string
	ext     string
	backend string
	seal    func(name string, plain []byte) ([]byte, error)
	open    func(name string, sealed []byte) ([]byte, error)
}

// NewFileStore returns a plain file store in dir (created 0700).
func NewFileStore(dir string) (*FileStore, error) {
	return newSealedStore(dir, "", "file", nil, nil)
}

func newSealedStore(dir, ext, backend string, seal, open func(string, []byte) ([]byte, error)) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keystore: create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keystore: restrict %s: %w", dir, err)
	}
	return &FileStore{dir: dir, ext: ext, backend: backend, seal: seal, open: open}, nil
}

func (s *FileStore) path(name string) string { return filepath.Join(s.dir, name+s.ext) }

// Get implements Store.
func (s *FileStore) Get(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: read %s: %w", name, err)
	}
	if s.open != nil {
		if b, err = s.open(name, b); err != nil {
			return nil, fmt.Errorf("keystore: unseal %s with %s: %w", name, s.backend, err)
		}
	}
	return b, nil
}

// Put implements Store.
func (s *FileStore) Put(name string, value []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	data := value
	if s.seal != nil {
		var err error
		if data, err = s.seal(name, value); err != nil {
			return fmt.Errorf("keystore: seal %s with %s: %w", name, s.backend, err)
		}
	}
	if err := atomicfile.WriteFile(s.path(name), data, 0o600); err != nil {
		return fmt.Errorf("keystore: write %s: %w", name, err)
	}
	return nil
}

// Delete implements Store. The file is overwritten before removal so the
// plaintext does not linger in the same blocks (best effort: journaling
// and SSDs may keep copies).
func (s *FileStore) Delete(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	p := s.path(name)
	if st, err := os.Stat(p); err == nil {
		if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			_, _ = f.Write(make([]byte, st.Size()))
			_ = f.Sync()
			f.Close()
		}
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keystore: delete %s: %w", name, err)
	}
	return nil
}

// Backend implements Store.
func (s *FileStore) Backend() string { return s.backend }
