package dnsconfig

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
)

// The block the agent puts at the top of resolv.conf. Lines between the
// markers are the agent's; everything else is left as it was.
const (
	blockBegin = "# BEGIN wirefleet-agent: fleet names go to the agent's resolver, which refuses all others (removed when the agent stops)"
	blockEnd   = "# END wirefleet-agent"
)

// withBlock returns resolv.conf content with the agent's block (naming
// nameserver first) in place of any earlier one.
func withBlock(content []byte, nameserver string) []byte {
	var b bytes.Buffer
	b.WriteString(blockBegin + "\n")
	b.WriteString("nameserver " + nameserver + "\n")
	b.WriteString(blockEnd + "\n")
	b.Write(withoutBlock(content))
	return b.Bytes()
}

// withoutBlock removes the agent's block(s), leaving every other byte as
// it was. A block without its end marker (a torn write) ends at the first
// line that is not a nameserver line.
func withoutBlock(content []byte) []byte {
	var out bytes.Buffer
	lines := strings.SplitAfter(string(content), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimRight(lines[i], "\r\n") != blockBegin {
			out.WriteString(lines[i])
			continue
		}
		j := i + 1
		for ; j < len(lines); j++ {
			l := strings.TrimRight(lines[j], "\r\n")
			if l == blockEnd {
				j++
				break
			}
			if !strings.HasPrefix(l, "nameserver ") {
				break
			}
		}
		i = j - 1
	}
	return out.Bytes()
}

// hasBlock reports whether content holds the agent's block.
func hasBlock(content []byte) bool {
	return bytes.Contains(content, []byte(blockBegin))
}

// writeResolvConf replaces the file at path (through a symlink, to its
// target) with data: atomically where it can, else in place — a
// resolv.conf bind-mounted into a container or a network namespace cannot
// be renamed over.
func writeResolvConf(path string, data []byte) error {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
	}
	aerr := atomicfile.WriteFile(target, data, mode)
	if aerr == nil {
		return nil
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return errors.Join(aerr, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s in place: %w", target, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// applyResolvConf puts the block into the file (idempotent).
func applyResolvConf(path, nameserver string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	next := withBlock(old, nameserver)
	if bytes.Equal(old, next) {
		return nil
	}
	return writeResolvConf(path, next)
}

// undoResolvConf removes the block from the file, if it is there.
func undoResolvConf(path string) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !hasBlock(old) {
		return nil
	}
	return writeResolvConf(path, withoutBlock(old))
}
