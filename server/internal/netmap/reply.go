package netmap

import (
	"encoding/json"
	"io"
	"strconv"
	"sync"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// snapshot is every active machine's peer entry at one map version, encoded
// once and shared by all full maps of that version: at 10,000 machines a
// full map is ~2.7 MB, and the 10,000 agents that need one after a server
// restart then cost a copy each rather than an encoding each.
type snapshot struct {
	version uint64
	ids     []string // sorted
	buf     []byte   // JSON objects in ids order, each followed by a comma
	offs    []int    // offs[i] is where ids[i]'s object starts; offs[len(ids)] == len(buf)
}

// Reply is one machine's network map, ready to be written as the JSON of a
// wire.NetMap. Peer entries are shared, already encoded pieces.
type Reply struct {
	Version   uint64
	Unchanged bool
	Full      bool

	self    *wire.Self
	routes  []byte    // the Self's routes, encoded and shared (nil: none)
	snap    *snapshot // full maps: every peer…
	skip    int       // …but this index (the machine itself), -1 for none
	added   [][]byte
	changed [][]byte
	removed []string
}

// Empty reports whether the reply is a delta that changes nothing for
// the machine: only its version moves.
func (r *Reply) Empty() bool {
	return !r.Unchanged && !r.Full && r.self == nil && len(r.added)+len(r.changed)+len(r.removed) == 0
}

// WriteTo writes the reply as JSON followed by a newline, as
// json.Encoder would write the equivalent wire.NetMap (except that a full
// map always carries "peers", [] when there are none).
func (r *Reply) WriteTo(w io.Writer) (int64, error) { return r.write(w, "}\n") }

// WriteObject writes the reply as a JSON object without the newline, for
// embedding it in a larger answer (enrollment).
func (r *Reply) WriteObject(w io.Writer) (int64, error) { return r.write(w, "}") }

func (r *Reply) write(w io.Writer, end string) (int64, error) {
	cw := &countWriter{w: w}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := (*bp)[:0]
	b = append(b, `{"version":`...)
	b = strconv.AppendUint(b, r.Version, 10)
	switch {
	case r.Unchanged:
		b = append(b, `,"unchanged":true`...)
	case r.Full:
		b = append(b, `,"full":true`...)
	}
	if r.self != nil {
		self, err := json.Marshal(r.self)
		if err != nil {
			return 0, err
		}
		if len(r.routes) > 0 {
			// Self always ends in '}'; the routes go before it.
			self = append(append(append(self[:len(self)-1:len(self)-1], `,"routes":`...), r.routes...), '}')
		}
		b = append(append(b, `,"self":`...), self...)
	}
	if r.Full {
		// The shared peer list goes out in at most two writes of its own.
		b = append(b, `,"peers":[`...)
		cw.Write(b)
		b = b[:0]
		r.writePeers(cw)
		b = append(b, ']')
	}
	b = appendList(b, "added", r.added)
	b = appendList(b, "changed", r.changed)
	if len(r.removed) > 0 {
		ids, err := json.Marshal(r.removed)
		if err != nil {
			return 0, err
		}
		b = append(append(b, `,"removed":`...), ids...)
	}
	b = append(b, end...)
	cw.Write(b)
	if cap(b) <= 64<<10 { // keep the pool's buffers small
		*bp = b
	}
	return cw.n, cw.err
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writePeers writes the snapshot's objects without the skipped one.
func (r *Reply) writePeers(w io.Writer) {
	s := r.snap
	if len(s.ids) == 0 {
		return
	}
	before, after := s.buf, []byte(nil)
	if r.skip >= 0 {
		before, after = s.buf[:s.offs[r.skip]], s.buf[s.offs[r.skip+1]:]
	}
	if len(after) > 0 {
		w.Write(before)
		w.Write(after[:len(after)-1])
	} else if len(before) > 0 {
		w.Write(before[:len(before)-1])
	}
}

func appendList(b []byte, name string, items [][]byte) []byte {
	if len(items) == 0 {
		return b
	}
	b = append(append(append(b, `,"`...), name...), `":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
}

// countWriter counts what reaches w and keeps the first error, after which
// it writes nothing more.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil || len(p) == 0 {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
