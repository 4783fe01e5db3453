// Package doctor checks a wirefleet-server installation and says what to
// fix: the running server, the database, disk space, the TLS
// certificate, the release keys, the descriptor limit and the clocks of
// the agents against the server's. It reads; it changes nothing.
package doctor

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/sealed"
)

// Statuses of a check.
const (
	OK   = "ok"
	Warn = "warn"
	Fail = "fail"
)

// Check is one finding.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Input is what the doctor looks at.
type Input struct {
	DataDir string
	TLSCert string // the serving certificate (default <data-dir>/tls.crt)
	// Known is the newest schema version this binary has.
	Known int
	// Client reaches the running server (over its admin socket); ClientErr
	// is why there is none.
	Client    *client.Client
	ClientErr error
	Now       time.Time
	// Lookup resolves a host name (default: the system resolver).
	Lookup func(host string) ([]netip.Addr, error)
	// MaxSecretAge is the age past which a secret not rotated is warned
	// about (default a year).
	MaxSecretAge time.Duration
}

// Thresholds.
const (
	certWarn   = 21 * 24 * time.Hour
	diskWarn   = 1 << 30   // free bytes
	diskFail   = 100 << 20 // free bytes
	skewWarn   = time.Minute
	skewSample = 20 // machines whose latest report is compared
)

// Run runs every check.
func Run(ctx context.Context, in Input) []Check {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	if in.Lookup == nil {
		in.Lookup = func(host string) ([]netip.Addr, error) {
			ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	info, infoErr := serverInfo(ctx, in)
	out := []Check{checkServer(info, infoErr)}
	if infoErr == nil {
		out = append(out, checkExternalURL(info.URL, in.Lookup))
	}
	out = append(out, checkDatabase(ctx, in))
	if c, ok := checkAudit(ctx, in); ok {
		out = append(out, c)
	}
	if c, ok := checkFlows(ctx, in); ok {
		out = append(out, c)
	}
	out = append(out, checkDisk(in), checkCert(in), checkReleaseKeys(in), checkSecrets(in))
	out = append(out, checkACME(in)...)
	out = append(out, checkDescriptors(info, infoErr))
	out = append(out, checkClock(ctx, in, infoErr))
	return out
}

func serverInfo(ctx context.Context, in Input) (wire.ServerInfo, error) {
	if in.Client == nil {
		return wire.ServerInfo{}, in.ClientErr
	}
	return in.Client.ServerInfo(ctx)
}

func checkServer(info wire.ServerInfo, err error) Check {
	c := Check{Name: "server"}
	if err != nil {
		c.Status, c.Detail = Fail, fmt.Sprintf("not answering on its admin socket: %v", err)
		c.Fix = "start it (systemctl start wirefleet-server) and read its log (journalctl -u wirefleet-server)"
		return c
	}
	c.Status = OK
	c.Detail = fmt.Sprintf("version %s at %s, %d machines, %d holding a long-poll, up since %s", info.Version, info.URL, info.Machines, info.Connected, info.StartedAt.UTC().Format(time.RFC3339))
	return c
}

// checkExternalURL warns when the URL one-liners send machines to names
// this machine only (a loopback address, or a name that resolves only to
// one here): other machines then get "connection refused" with no hint.
func checkExternalURL(raw string, lookup func(string) ([]netip.Addr, error)) Check {
	c := Check{Name: "external URL", Status: OK}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		c.Status, c.Detail = Warn, fmt.Sprintf("%q is not a URL", raw)
		c.Fix = "start the server with --external-url https://NAME-OR-IP:PORT"
		return c
	}
	host := u.Hostname()
	ips := []netip.Addr{}
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = append(ips, ip)
	} else if ips, err = lookup(host); err != nil || len(ips) == 0 {
		c.Status, c.Detail = Warn, fmt.Sprintf("%s: %s does not resolve on this machine (%v); machines that resolve it differently may still reach it", raw, host, err)
		c.Fix = "check the name in DNS, or start the server with --external-url naming an address other machines reach"
		return c
	}
	if !slices.ContainsFunc(ips, func(a netip.Addr) bool { return !a.Unmap().IsLoopback() }) {
		c.Status = Warn
		c.Detail = fmt.Sprintf("one-liners send machines to %s, which is loopback here (%v): other machines cannot reach it", raw, ips)
		c.Fix = "restart the server with --external-url https://NAME-OR-IP:PORT that other machines reach (make run EXTERNAL_URL=…)"
		return c
	}
	c.Detail = fmt.Sprintf("one-liners send machines to %s (%v)", raw, ips)
	return c
}

// checkDatabase opens the SQLite file read-only (never migrating it) and
// runs SQLite's quick_check.
func checkDatabase(ctx context.Context, in Input) Check {
	c := Check{Name: "database"}
	path := filepath.Join(in.DataDir, "wirefleet.db")
	if _, err := os.Stat(path); err != nil {
		c.Status, c.Detail = Warn, fmt.Sprintf("no SQLite database at %s (%v)", path, err)
		c.Fix = "with PostgreSQL (--db postgres://…), check the replicas' /readyz and pg_isready; else check --data-dir"
		return c
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		c.Status, c.Detail = Fail, err.Error()
		return c
	}
	defer db.Close()
	var schema sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&schema); err != nil {
		c.Status, c.Detail, c.Fix = Fail, fmt.Sprintf("%s does not read as a wirefleet database: %v", path, err), "restore a backup (wirefleet-server restore)"
		return c
	}
	if int(schema.Int64) > in.Known {
		c.Status = Fail
		c.Detail = fmt.Sprintf("schema version %d was written by a newer server; this binary knows up to %d", schema.Int64, in.Known)
		c.Fix = "run the newer server again, or restore a backup taken before the upgrade"
		return c
	}
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil || res != "ok" {
		c.Status, c.Detail = Fail, fmt.Sprintf("quick_check: %s %v", res, err)
		c.Fix = "stop the server and restore the last backup (wirefleet-server restore)"
		return c
	}
	fi, _ := os.Stat(path)
	c.Status, c.Detail = OK, fmt.Sprintf("%s, schema %d, %.1f MiB, quick_check ok", path, schema.Int64, float64(fi.Size())/(1<<20))
	if int(schema.Int64) < in.Known {
		c.Status = Warn
		c.Detail += fmt.Sprintf("; this binary would migrate it to %d", in.Known)
		c.Fix = "take a backup before starting the newer server (wirefleet-server backup --to FILE)"
	}
	return c
}

// openReadOnly opens the SQLite database read-only (false: there is none
// to open; the database check says why).
func openReadOnly(in Input) (*sql.DB, bool) {
	path := filepath.Join(in.DataDir, "wirefleet.db")
	if _, err := os.Stat(path); err != nil {
		return nil, false
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, false
	}
	return db, true
}

// auditWarnRows is an audit log large enough to say so: its page and
// backups slow down long before the disk fills.
const auditWarnRows = 5_000_000

// checkAudit reports the audit log's size and age (SQLite only; false
// when there is no SQLite database to read).
func checkAudit(ctx context.Context, in Input) (Check, bool) {
	c := Check{Name: "audit log"}
	db, ok := openReadOnly(in)
	if !ok {
		return c, false
	}
	defer db.Close()
	var n int64
	var oldest sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(at) FROM audit`).Scan(&n, &oldest); err != nil {
		return c, false // the database check says why
	}
	c.Status, c.Detail = OK, fmt.Sprintf("%d events", n)
	if oldest.Valid {
		c.Detail += ", the oldest of " + time.UnixMilli(oldest.Int64).UTC().Format("2006-01-02")
	}
	c.Detail += "; events older than --audit-retention (default a year) are deleted hourly"
	if n > auditWarnRows {
		c.Status = Warn
		c.Fix = "shorten --audit-retention, or export the log (GET /api/v1/audit) and let the retention trim it"
	}
	return c, true
}

// checkFlows reports the flow records kept: their count, the oldest,
// and about how much of the database they take (SQLite only; false
// without a SQLite database or before flow logs existed).
func checkFlows(ctx context.Context, in Input) (Check, bool) {
	c := Check{Name: "flow logs"}
	db, ok := openReadOnly(in)
	if !ok {
		return c, false
	}
	defer db.Close()
	var n int64
	var oldest sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(end_at) FROM flow_records`).Scan(&n, &oldest); err != nil {
		return c, false
	}
	c.Status, c.Detail = OK, fmt.Sprintf("%d records", n)
	if oldest.Valid {
		c.Detail += ", the oldest of " + time.UnixMilli(oldest.Int64).UTC().Format("2006-01-02")
	}
	// dbstat is compiled into modernc.org/sqlite: the pages of the table
	// and its indexes.
	var bytes sql.NullInt64
	if db.QueryRowContext(ctx, `SELECT SUM(pgsize) FROM dbstat WHERE name = 'flow_records' OR name LIKE 'flow_records_%'`).Scan(&bytes) == nil && bytes.Valid {
		c.Detail += fmt.Sprintf(", %.1f MiB with their indexes", float64(bytes.Int64)/(1<<20))
	}
	c.Detail += "; pruned by --flow-retention (30 days) and --flow-max-records (10,000,000)"
	return c, true
}

func checkDisk(in Input) Check {
	c := Check{Name: "disk"}
	u, err := disk.Usage(in.DataDir)
	if err != nil {
		c.Status, c.Detail = Warn, fmt.Sprintf("cannot read free space of %s: %v", in.DataDir, err)
		return c
	}
	c.Detail = fmt.Sprintf("%s: %.1f GiB free of %.1f GiB (%.0f %% used)", in.DataDir, float64(u.Free)/(1<<30), float64(u.Total)/(1<<30), u.UsedPercent)
	switch {
	case u.Free < diskFail:
		c.Status, c.Fix = Fail, "free space now: the database stops accepting writes (health, enrollments) when the disk is full"
	case u.Free < diskWarn || u.UsedPercent > 90:
		c.Status, c.Fix = Warn, "free space soon: health history and releases grow with the fleet"
	default:
		c.Status = OK
	}
	return c
}

func checkCert(in Input) Check {
	c := Check{Name: "certificate"}
	p := in.TLSCert
	if p == "" {
		p = filepath.Join(in.DataDir, "tls.crt")
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		c.Status, c.Detail = OK, fmt.Sprintf("no %s: plain HTTP behind a TLS proxy, or created at first start", p)
		return c
	}
	if err != nil {
		c.Status, c.Detail = Fail, err.Error()
		return c
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		c.Status, c.Detail, c.Fix = Fail, p+" holds no PEM certificate", "put the certificate back, or remove it and its key to have a new self-signed one made (agents pinned to the old key then need re-enrolling)"
		return c
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		c.Status, c.Detail = Fail, fmt.Sprintf("%s: %v", p, err)
		return c
	}
	left := cert.NotAfter.Sub(in.Now)
	c.Detail = fmt.Sprintf("%s expires %s (in %d days)", p, cert.NotAfter.UTC().Format("2006-01-02"), int(left.Hours()/24))
	switch {
	case left <= 0:
		c.Status, c.Detail = Fail, fmt.Sprintf("%s expired on %s", p, cert.NotAfter.UTC().Format("2006-01-02"))
		c.Fix = "renew it with the same key (agents pin the key), then restart the server"
	case left < certWarn:
		c.Status, c.Fix = Warn, "renew it with the same key (agents pin the key) before it expires"
	default:
		c.Status = OK
	}
	return c
}

// checkACME looks at the certificates an ACME CA issued (serve
// --acme-domain keeps them in <data-dir>/acme, one file per name: the key
// and the chain). They renew 30 days before expiry, so one closer than
// certWarn means renewals fail.
func checkACME(in Input) []Check {
	dir := filepath.Join(in.DataDir, "acme")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil // no ACME
	}
	var out []Check
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || name == "acme_account+key" || strings.HasSuffix(name, "+token") || strings.HasSuffix(name, "+http-01") {
			continue
		}
		c := Check{Name: "ACME certificate " + name}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			c.Status, c.Detail = Fail, err.Error()
			out = append(out, c)
			continue
		}
		var leaf *x509.Certificate
		for rest := b; leaf == nil; {
			var blk *pem.Block
			if blk, rest = pem.Decode(rest); blk == nil {
				break
			}
			if blk.Type == "CERTIFICATE" {
				leaf, _ = x509.ParseCertificate(blk.Bytes)
			}
		}
		if leaf == nil {
			c.Status, c.Detail, c.Fix = Warn, "no certificate in "+filepath.Join(dir, name), "remove the file: the server asks the CA again"
			out = append(out, c)
			continue
		}
		left := leaf.NotAfter.Sub(in.Now)
		c.Detail = fmt.Sprintf("from %s, expires %s (in %d days)", leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format("2006-01-02"), int(left.Hours()/24))
		switch {
		case left <= 0:
			c.Status, c.Detail = Fail, fmt.Sprintf("expired on %s", leaf.NotAfter.UTC().Format("2006-01-02"))
			c.Fix = "renewal failed: the CA must reach port 443 of the name on this server (TLS-ALPN-01); the server's log names the CA's answer"
		case left < certWarn:
			c.Status, c.Fix = Warn, "it should have renewed 30 days before expiry: the CA must reach port 443 of the name on this server; the server's log names the CA's answer"
		default:
			c.Status = OK
		}
		out = append(out, c)
	}
	return out
}

func checkReleaseKeys(in Input) Check {
	c := Check{Name: "release keys"}
	dir := filepath.Join(in.DataDir, "release-keys")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		c.Status, c.Detail = OK, "none in the data directory (releases are signed elsewhere, or not published)"
		return c
	}
	if err != nil {
		c.Status, c.Detail = Fail, err.Error()
		return c
	}
	// The private keys (*.key) must be the owner's alone; the public keys
	// and the signed key list may be read by anyone.
	var loose []string
	keys := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".key") {
			continue
		}
		keys++
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
			loose = append(loose, e.Name())
		}
	}
	if len(loose) > 0 {
		c.Status, c.Detail = Warn, fmt.Sprintf("%s: private keys %v are readable by others", dir, loose)
		c.Fix = "chmod 600 " + filepath.Join(dir, "*.key") + " (whoever reads a signing key can publish agent releases)"
		return c
	}
	c.Status, c.Detail = OK, fmt.Sprintf("%s: %d private keys, owner-only", dir, keys)
	return c
}

// checkSecrets reads the secret store's index (no key needed): plain
// secrets, and secrets or a KEK not rotated for MaxSecretAge, are warnings.
func checkSecrets(in Input) Check {
	c := Check{Name: "secrets at rest"}
	st, err := sealed.ReadStatus(in.DataDir)
	if err != nil {
		c.Status, c.Detail, c.Fix = Fail, err.Error(), "restore secrets/index.json from a backup"
		return c
	}
	maxAge := in.MaxSecretAge
	if maxAge <= 0 {
		maxAge = 365 * 24 * time.Hour
	}
	var plain, old []string
	for _, e := range st.Secrets {
		if !e.Sealed {
			plain = append(plain, e.Name)
		}
	}
	for _, o := range st.Overdue(maxAge, in.Now) {
		old = append(old, fmt.Sprintf("%s (%d days)", o.Name, int(o.Age.Hours()/24)))
	}
	switch {
	case len(plain) > 0:
		c.Status, c.Detail = Warn, fmt.Sprintf("in the clear in the data directory: %s", strings.Join(plain, ", "))
		c.Fix = "wirefleet-server secrets seal (whoever copies the data directory or a backup could impersonate the server)"
	case len(old) > 0:
		c.Status, c.Detail = Warn, "not rotated for more than "+fmt.Sprint(int(maxAge.Hours()/24))+" days: "+strings.Join(old, ", ")
		c.Fix = "wirefleet-server secrets rotate tls|signing|metrics|sso|kek"
	case st.Mode == sealed.Sealed:
		c.Status, c.Detail = OK, fmt.Sprintf("%d sealed with the %s", len(st.Secrets), st.Source)
	default:
		c.Status, c.Detail = OK, "none kept in the data directory"
	}
	return c
}

func checkClock(ctx context.Context, in Input, infoErr error) Check {
	c := Check{Name: "clock"}
	if in.Client == nil || infoErr != nil {
		c.Status, c.Detail = Warn, "not checked: the server does not answer"
		return c
	}
	ms, err := in.Client.ListMachines(ctx, client.MachineFilter{State: "online"})
	if err != nil {
		c.Status, c.Detail = Warn, fmt.Sprintf("not checked: %v", err)
		return c
	}
	type skew struct {
		name string
		d    time.Duration
	}
	var skews []skew
	for _, m := range ms[:min(len(ms), skewSample)] {
		h, err := in.Client.Health(ctx, m.ID, 1)
		if err != nil || h.Latest == nil || h.ReceivedAt == nil {
			continue
		}
		d := h.ReceivedAt.Sub(h.Latest.At)
		if d < 0 {
			d = -d
		}
		skews = append(skews, skew{m.Name, d})
	}
	if len(skews) == 0 {
		c.Status, c.Detail = OK, "no recent agent reports to compare with"
		return c
	}
	sort.Slice(skews, func(i, j int) bool { return skews[i].d > skews[j].d })
	off := slices.IndexFunc(skews, func(s skew) bool { return s.d <= skewWarn })
	if off < 0 {
		off = len(skews)
	}
	c.Detail = fmt.Sprintf("%d of %d agents' clocks within %v of the server's (largest difference %v, %s)", len(skews)-off, len(skews), skewWarn, skews[0].d.Round(time.Second), skews[0].name)
	if off > 0 {
		c.Status, c.Fix = Warn, "run NTP (systemd-timesyncd, chrony) on the server and the agents: token and key expiry depend on the clocks"
		return c
	}
	c.Status = OK
	return c
}
