package web

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"go/version"
	"hash/fnv"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// row is one machine as the table shows it; the live refresh fetches the
// same rows as JSON.
type row struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Hostname string   `json:"hostname"`
	State    string   `json:"state"` // online, offline, expired, revoked
	LastSeen string   `json:"last_seen"`
	SeenAt   string   `json:"seen_at"` // exact, for the hover ("" never)
	OS       string   `json:"os"`
	Agent    string   `json:"agent"`
	IPv4     string   `json:"ipv4"`
	IPv6     string   `json:"ipv6"`
	Tags     []string `json:"tags"`
	CPU      string   `json:"cpu"`
	Mem      string   `json:"mem"`
	Disk     string   `json:"disk"`
	// V changes with any value above: the live refresh leaves a row whose
	// V it has alone.
	V string `json:"v"`

	seen time.Time // sort keys
	cpu  float64
}

func (w *Web) rowOf(m wire.Machine, now time.Time) row {
	r := row{ID: m.ID, Name: m.Name, Hostname: m.Hostname, LastSeen: w.ago(m.LastSeen), OS: m.OS + "/" + m.Arch,
		Agent: m.AgentVersion, IPv4: m.IPv4, IPv6: m.IPv6, Tags: m.Tags, CPU: "–", Mem: "–", Disk: "–", cpu: -1}
	if m.LastSeen != nil {
		r.seen = *m.LastSeen
		r.SeenAt = m.LastSeen.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	if m.OSVersion != "" {
		r.OS = m.OSVersion + " (" + m.Arch + ")"
	}
	switch {
	case m.State == wire.MachineRevoked:
		r.State = "revoked"
	case m.State == wire.MachineExpired:
		r.State = "expired"
	case w.pres.Online(m, now):
		r.State = "online"
	default:
		r.State = "offline"
	}
	if h := m.Health; h != nil {
		if h.Platform != "" {
			r.OS = h.Platform + " (" + m.Arch + ")"
		}
		r.CPU = fmt.Sprintf("%.0f%%", h.CPUPercent)
		r.cpu = h.CPUPercent
		r.Mem, r.Disk = pct(h.MemUsed, h.MemTotal), pct(h.DiskUsed, h.DiskTotal)
	}
	if r.Tags == nil {
		r.Tags = []string{}
	}
	return r
}

// version is a short hash of what the row shows.
func (r row) version() string {
	r.V = ""
	b, _ := json.Marshal(r)
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 36)
}

// matches says whether every word of the search is found in one of the
// row's name, hostname, tags, addresses, OS, agent version or ID.
// A whole IP address matches only itself (100.64.3.13 is not
// 100.64.3.130); part of one matches addresses that begin with it.
func (r row) matches(words []string) bool {
	for _, w := range words {
		if ip, err := netip.ParseAddr(w); err == nil {
			if a, err := netip.ParseAddr(r.IPv4); err != nil || a != ip {
				if a, err := netip.ParseAddr(r.IPv6); err != nil || a != ip {
					return false
				}
			}
			continue
		}
		found := strings.Contains(r.Name, w) || strings.Contains(strings.ToLower(r.Hostname), w) ||
			strings.HasPrefix(r.IPv4, w) || strings.Contains(r.IPv6, w) || strings.Contains(strings.ToLower(r.OS), w) ||
			strings.Contains(strings.ToLower(r.Agent), w) || strings.HasPrefix(strings.ToLower(r.ID), w)
		for _, t := range r.Tags {
			found = found || strings.Contains(t, w)
		}
		if !found {
			return false
		}
	}
	return true
}

// Page sizes of the machines table.
const (
	defaultPerPage = 100
	maxPerPage     = 500
)

// listQuery is what the machines table shows: a search, a state, an
// order and a page.
type listQuery struct {
	Q     string
	State string // "", online, offline, expired, revoked
	Sort  string // a sortKeys key
	Desc  bool
	Page  int // from 1
	Per   int
}

// sortKeys order rows by a column; ties go by name.
var sortKeys = map[string]func(a, b row) int{
	"name":      func(a, b row) int { return 0 },
	"state":     func(a, b row) int { return cmp.Compare(stateRank[a.State], stateRank[b.State]) },
	"last_seen": func(a, b row) int { return a.seen.Compare(b.seen) },
	"os":        func(a, b row) int { return strings.Compare(a.OS, b.OS) },
	"agent":     func(a, b row) int { return version.Compare(a.Agent, b.Agent) },
	"ip":        func(a, b row) int { return compareIPv4(a.IPv4, b.IPv4) },
	"cpu":       func(a, b row) int { return cmp.Compare(a.cpu, b.cpu) },
}

var stateRank = map[string]int{"online": 0, "offline": 1, "expired": 2, "revoked": 3}

func parseListQuery(v url.Values) listQuery {
	q := listQuery{Q: strings.TrimSpace(v.Get("q")), State: v.Get("state"), Sort: v.Get("sort"), Desc: v.Get("dir") == "desc", Page: 1, Per: defaultPerPage}
	if len(q.Q) > 200 {
		q.Q = q.Q[:200]
	}
	if _, ok := stateRank[q.State]; !ok {
		q.State = ""
	}
	if _, ok := sortKeys[q.Sort]; !ok {
		q.Sort, q.Desc = "name", false
	}
	if n, err := strconv.Atoi(v.Get("page")); err == nil && n > 0 {
		q.Page = n
	}
	if n, err := strconv.Atoi(v.Get("per")); err == nil && n > 0 {
		q.Per = min(n, maxPerPage)
	}
	return q
}

// values is the query as URL parameters, defaults left out.
func (q listQuery) values() url.Values {
	v := url.Values{}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Sort != "name" {
		v.Set("sort", q.Sort)
	}
	if q.Desc {
		v.Set("dir", "desc")
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if q.Per != defaultPerPage {
		v.Set("per", strconv.Itoa(q.Per))
	}
	return v
}

// with returns the URL of the machines page with change applied to q.
func (q listQuery) with(change func(*listQuery)) string {
	c := q
	change(&c)
	if e := c.values().Encode(); e != "" {
		return "/machines?" + e
	}
	return "/machines"
}

// listing is one page of the machines table with the fleet's counts.
type listing struct {
	Rows []row `json:"rows"`
	// Counts are per state among the machines the search matches (the
	// filter chips); All is their sum, Fleet every machine.
	Counts  map[string]int `json:"counts"`
	All     int            `json:"all"`
	Fleet   int            `json:"fleet"`
	Matched int            `json:"matched"` // search and state
	Page    int            `json:"page"`
	Pages   int            `json:"pages"`
	First   int            `json:"first"` // 1-based position of the first row shown (0: none)
	Last    int            `json:"last"`

	q listQuery
}

// list builds the page of machines q asks for.
func (w *Web) list(r *http.Request, q listQuery) (listing, error) {
	ms, err := w.fl.ListMachines(r.Context(), w.requestActor(r), store.MachineFilter{})
	if err != nil {
		return listing{}, err
	}
	now := w.now()
	words := strings.Fields(strings.ToLower(q.Q))
	l := listing{Counts: map[string]int{"online": 0, "offline": 0, "expired": 0, "revoked": 0}, Fleet: len(ms), q: q}
	rows := make([]row, 0, len(ms))
	for _, m := range ms {
		rw := w.rowOf(m, now)
		if !rw.matches(words) {
			continue
		}
		l.Counts[rw.State]++
		l.All++
		if q.State != "" && rw.State != q.State {
			continue
		}
		rows = append(rows, rw)
	}
	by := sortKeys[q.Sort]
	slices.SortStableFunc(rows, func(a, b row) int {
		c := by(a, b)
		if q.Desc {
			c = -c
		}
		return cmp.Or(c, strings.Compare(a.Name, b.Name))
	})
	l.Matched = len(rows)
	l.Pages = max(1, (len(rows)+q.Per-1)/q.Per)
	l.Page = min(q.Page, l.Pages)
	from := (l.Page - 1) * q.Per
	to := min(from+q.Per, len(rows))
	l.Rows = rows[from:to]
	for i := range l.Rows {
		l.Rows[i].V = l.Rows[i].version()
	}
	if to > from {
		l.First, l.Last = from+1, to
	}
	l.q.Page = l.Page
	return l, nil
}

// compareIPv4 orders addresses numerically; a missing one sorts first.
func compareIPv4(a, b string) int {
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return pa.Compare(pb)
}

// column is a sortable header of the machines table.
type column struct {
	Label, Key string
	URL        string // the page sorted by this column (reversed when it is the order already)
	Sort       string // aria-sort: ascending, descending or ""
}

// chip is a state filter with its count.
type chip struct {
	Label, URL string
	Count      int
	On         bool
}

// machinesView is what the machines template needs.
type machinesView struct {
	listing
	Q, State     string
	Columns      []column
	Chips        []chip
	Prev, Next   string
	Sorted       string // "name, ascending": said to screen readers
	BulkReturn   string // where the bulk form comes back to
	ClearURL     string // the page without the search
	FleetIsEmpty bool
}

func (l listing) view() machinesView {
	q := l.q
	v := machinesView{listing: l, Q: q.Q, State: q.State, FleetIsEmpty: l.Fleet == 0, BulkReturn: q.with(func(*listQuery) {}),
		ClearURL: q.with(func(c *listQuery) { c.Q, c.Page = "", 1 })}
	for _, c := range []struct{ label, key string }{{"Name", "name"}, {"State", "state"}, {"Last seen", "last_seen"}, {"OS", "os"}, {"Agent", "agent"},
		{"Addresses", "ip"}, {"Tags", ""}, {"CPU", "cpu"}, {"Mem", ""}, {"Disk", ""}} {
		col := column{Label: c.label, Key: c.key}
		if c.key == "" {
			v.Columns = append(v.Columns, col) // not sortable
			continue
		}
		desc := c.key == "last_seen" || c.key == "cpu" // newest and busiest first
		if q.Sort == c.key {
			desc = !q.Desc
			col.Sort = map[bool]string{false: "ascending", true: "descending"}[q.Desc]
			v.Sorted = strings.ToLower(c.label) + ", " + col.Sort
		}
		col.URL = q.with(func(c2 *listQuery) { c2.Sort, c2.Desc, c2.Page = c.key, desc, 1 })
		v.Columns = append(v.Columns, col)
	}
	v.Chips = append(v.Chips, chip{Label: "All", Count: l.All, On: q.State == "", URL: q.with(func(c *listQuery) { c.State, c.Page = "", 1 })})
	for _, st := range []string{"online", "offline", "expired", "revoked"} {
		if st == "expired" && l.Counts[st] == 0 && q.State != st {
			continue // a fleet without expiry has none
		}
		v.Chips = append(v.Chips, chip{Label: strings.ToUpper(st[:1]) + st[1:], Count: l.Counts[st], On: q.State == st,
			URL: q.with(func(c *listQuery) { c.State, c.Page = st, 1 })})
	}
	if l.Page > 1 {
		v.Prev = q.with(func(c *listQuery) { c.Page = l.Page - 1 })
	}
	if l.Page < l.Pages {
		v.Next = q.with(func(c *listQuery) { c.Page = l.Page + 1 })
	}
	return v
}

func (w *Web) machines(rw http.ResponseWriter, r *http.Request, s store.Session) {
	l, err := w.list(r, parseListQuery(r.URL.Query()))
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	w.render(rw, r, "machines", http.StatusOK, page{Title: "Machines", Nav: "machines", Admin: s.Admin.Name, CSRF: s.CSRF,
		Flash: w.message(rw, r, "f"), Error: w.message(rw, r, "e"), Data: l.view()})
}

// machinesJSON is the live refresh of the machines page: the same page of
// rows and the counts. An unchanged answer is 304 (the browser sends the
// ETag back in If-None-Match), so an idle table costs a header every few
// seconds.
func (w *Web) machinesJSON(rw http.ResponseWriter, r *http.Request, s store.Session) {
	l, err := w.list(r, parseListQuery(r.URL.Query()))
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	w.liveJSON(rw, r, l)
}

// liveJSON answers a page's refresh with v as JSON, or 304 when it is
// what the page already has (the ETag it sends back in If-None-Match).
// Nothing is cached: admin data stays out of the browser's disk.
func (w *Web) liveJSON(rw http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	sum := sha256.Sum256(b)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	rw.Header().Set("ETag", etag)
	rw.Header().Set("Cache-Control", "no-store")
	if r.Header.Get("If-None-Match") == etag {
		rw.WriteHeader(http.StatusNotModified)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.Write(b)
}
