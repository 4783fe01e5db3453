package wire

import (
	"encoding/base64"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on user- and agent-supplied strings. They keep the database, the
// logs and the admin page safe from absurd input.
const (
	MaxNameLen      = 63  // a DNS label
	MaxHostnameLen  = 253 // a DNS name
	MaxFactLen      = 128 // OS, arch, versions
	MaxTags         = 32
	MaxTagLen       = 63
	MaxEndpoints    = 16
	MaxEndpointLen  = 64
	MaxBodyBytes    = 64 << 10 // request bodies
	PublicKeyLength = 32
)

// ValidatePublicKey checks that s is a standard-base64 32-byte WireGuard key.
func ValidatePublicKey(s string) error {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != PublicKeyLength {
		return Errorf(CodeInvalidPublicKey, "public key must be 32 bytes in standard base64 (as printed by `wg pubkey`)")
	}
	var zero [PublicKeyLength]byte
	if string(b) == string(zero[:]) {
		return Errorf(CodeInvalidPublicKey, "public key must not be all zeros")
	}
	return nil
}

// ValidateName checks that s is a DNS label usable as a machine name:
// 1–63 characters of lowercase a–z, 0–9 and '-', not starting or ending
// with '-'.
func ValidateName(s string) error {
	if s == "" || len(s) > MaxNameLen {
		return Errorf(CodeInvalidName, "name must be 1–%d characters", MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return Errorf(CodeInvalidName, "name may contain only lowercase letters, digits and '-'")
		}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return Errorf(CodeInvalidName, "name must not start or end with '-'")
	}
	return nil
}

// SanitizeName turns an arbitrary hostname into a valid machine name, or ""
// when nothing usable is left. "Alice's MacBook Pro.local" → "alices-macbook-pro".
func SanitizeName(s string) string {
	if i := strings.IndexByte(s, '.'); i > 0 {
		s = s[:i]
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case r == '\'' || r == '’':
			// drop apostrophes: "alice's" → "alices"
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
		if b.Len() >= MaxNameLen {
			break
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > MaxNameLen {
		out = strings.Trim(out[:MaxNameLen], "-")
	}
	return out
}

// ValidateTag checks a tag: the same alphabet as names plus ':' and '_', so
// that "env:prod" and "team_a" work.
func ValidateTag(s string) error {
	if s == "" || len(s) > MaxTagLen {
		return Errorf(CodeInvalidArgument, "tag must be 1–%d characters", MaxTagLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == ':' || c == '_') {
			return Errorf(CodeInvalidArgument, "tag %q may contain only lowercase letters, digits, '-', '_' and ':'", s)
		}
	}
	return nil
}

// ValidateTags checks a list of tags and returns it deduplicated, in order.
func ValidateTags(tags []string) ([]string, error) {
	if len(tags) > MaxTags {
		return nil, Errorf(CodeInvalidArgument, "at most %d tags", MaxTags)
	}
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if err := ValidateTag(t); err != nil {
			return nil, err
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// ValidateEndpoints checks host:port endpoints (IP literals only: the
// overlay must not depend on DNS) and returns them normalised.
func ValidateEndpoints(eps []string) ([]string, error) {
	if len(eps) > MaxEndpoints {
		return nil, Errorf(CodeInvalidArgument, "at most %d endpoints", MaxEndpoints)
	}
	out := make([]string, 0, len(eps))
	for _, e := range eps {
		if len(e) > MaxEndpointLen {
			return nil, Errorf(CodeInvalidArgument, "endpoint too long")
		}
		ap, err := netip.ParseAddrPort(e)
		if err != nil || ap.Port() == 0 || !ap.Addr().IsValid() || ap.Addr().IsUnspecified() {
			return nil, Errorf(CodeInvalidArgument, "endpoint %q must be ip:port", clip(e))
		}
		out = append(out, ap.String())
	}
	return out, nil
}

// ValidateFact checks a free-text fact reported by an agent (hostname, OS,
// version), or text an admin typed (a flag's description): bounded, valid
// UTF-8, and free of what is not text (see Typeable). It is stored as
// given and escaped wherever it is shown.
func ValidateFact(field, s string, max int, required bool) error {
	if s == "" {
		if required {
			return Errorf(CodeInvalidArgument, "%s is required", field)
		}
		return nil
	}
	if len(s) > max {
		return Errorf(CodeInvalidArgument, "%s longer than %d bytes", field, max)
	}
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalidArgument, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if !Typeable(r) {
			return Errorf(CodeInvalidArgument, "%s contains %U, which is not text (a control, bidirectional override or unassigned character)", field, r)
		}
	}
	return nil
}

// Typeable reports whether r is something people type: any assigned
// letter, mark, number, punctuation, symbol or space, including the
// no-break space and the zero-width joiner of emoji sequences (🏳️‍🌈), but
// no control character (CR/LF forge log lines), no line or paragraph
// separator, no bidirectional override or isolate (they reorder what an
// admin reads: "\u202etxt.exe"), and nothing unassigned. unicode.IsPrint
// was the wrong test: it refuses every space but U+0020 and every format
// character, ZWJ included.
func Typeable(r rune) bool {
	switch {
	case r == utf8.RuneError, unicode.Is(unicode.Cc, r), r == '\u2028', r == '\u2029':
		return false
	case unicode.Is(unicode.Bidi_Control, r):
		return false
	}
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs, unicode.Cf, unicode.Co)
}

// ClipFact makes s a valid fact of at most max bytes: control characters
// become spaces and it is cut at a character boundary, with "…" when cut.
func ClipFact(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if !Typeable(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

var versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)

// ValidateVersion checks a release version string (also used in paths).
func ValidateVersion(v string) error {
	if !versionRE.MatchString(v) {
		return Errorf(CodeInvalidArgument, "version must be 1–64 letters, digits, '.', '+', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// Bounds on the figures a health report carries.
const (
	MaxUpdateReasonLen = 256
	maxBytes           = 1 << 60 // memory, disk and traffic counters
	maxUptimeSec       = 100 * 365 * 24 * 3600
	maxPeerCount       = 1 << 20
)

// UpdateStates are the outcomes an agent reports for a self-update.
var UpdateStates = []string{"ok", "rolled_back", "failed"}

// Validate checks every field an agent sends in a health report: strings
// are bounded, printable UTF-8 (no CR/LF, no bidirectional overrides),
// versions are versions, figures are within what a machine can report.
// The first problem is returned with the field's name.
func (r HealthReport) Validate() error {
	for _, f := range []struct{ name, val string }{{"agent_version", r.AgentVersion}, {"os", r.OS}, {"platform", r.Platform}, {"kernel", r.Kernel}, {"tunnel.interface", r.Tunnel.Interface}} {
		if err := ValidateFact(f.name, f.val, MaxFactLen, false); err != nil {
			return err
		}
	}
	if err := ValidateFact("tunnel.error", r.Tunnel.Error, MaxTunnelErrorLen, false); err != nil {
		return err
	}
	if r.Facts != nil {
		if err := r.Facts.Validate(); err != nil {
			return err
		}
	}
	if len(r.FlagUsage) > MaxFlagUsageKeys {
		return Errorf(CodeInvalidArgument, "flag_usage: at most %d flags", MaxFlagUsageKeys)
	}
	for k, n := range r.FlagUsage {
		if k == "" || len(k) > 128 || strings.ContainsFunc(k, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
		}) {
			return Errorf(CodeInvalidArgument, "flag_usage: %q is no flag key", clip(k))
		}
		if n < 0 || n > 1e12 {
			return Errorf(CodeInvalidArgument, "flag_usage[%s] is out of range", k)
		}
	}
	if len(r.ServerPins) > MaxServerPins {
		return Errorf(CodeInvalidArgument, "server_pins: at most %d", MaxServerPins)
	}
	for _, p := range r.ServerPins {
		if err := ValidateFact("server_pins", p, 64, false); err != nil {
			return err
		}
	}
	figure := func(name string, ok bool) error {
		if !ok {
			return Errorf(CodeInvalidArgument, "%s is out of range", name)
		}
		return nil
	}
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"cpu_percent", r.CPUPercent >= 0 && r.CPUPercent <= 100},
		{"mem_total", r.MemTotal <= maxBytes},
		{"mem_used", r.MemUsed <= r.MemTotal || r.MemTotal == 0 && r.MemUsed <= maxBytes},
		{"disk_total", r.DiskTotal <= maxBytes},
		{"disk_used", r.DiskUsed <= r.DiskTotal || r.DiskTotal == 0 && r.DiskUsed <= maxBytes},
		{"uptime_sec", r.UptimeSec <= maxUptimeSec},
		{"dropped", r.Dropped >= 0 && r.Dropped <= 1<<30},
		{"tunnel.peer_count", r.Tunnel.PeerCount >= 0 && r.Tunnel.PeerCount <= maxPeerCount},
		{"tunnel.connected", r.Tunnel.Connected >= 0 && r.Tunnel.Connected <= r.Tunnel.PeerCount},
	} {
		if err := figure(c.name, c.ok); err != nil {
			return err
		}
	}
	if len(r.Tunnel.Peers) > MaxHealthPeers {
		return Errorf(CodeInvalidArgument, "at most %d peers per health report", MaxHealthPeers)
	}
	for _, p := range r.Tunnel.Peers {
		if ValidateFact("peer name", p.Name, MaxNameLen, false) != nil || ValidateFact("peer id", p.ID, MaxFactLen, false) != nil ||
			ValidateFact("peer endpoint", p.Endpoint, MaxEndpointLen, false) != nil ||
			!slices.Contains(PeerPaths, p.Path) || !(p.LatencyMS >= 0 && p.LatencyMS <= MaxLatencyMS) ||
			p.RxBytes < 0 || p.RxBytes > maxBytes || p.TxBytes < 0 || p.TxBytes > maxBytes {
			return Errorf(CodeInvalidArgument, "malformed peer entry")
		}
	}
	if u := r.Update; u != nil {
		if err := ValidateVersion(u.From); err != nil {
			return Errorf(CodeInvalidArgument, "update.from: %v", err)
		}
		if err := ValidateVersion(u.To); err != nil {
			return Errorf(CodeInvalidArgument, "update.to: %v", err)
		}
		if !slices.Contains(UpdateStates, u.State) {
			return Errorf(CodeInvalidArgument, "update.state must be one of %s", strings.Join(UpdateStates, ", "))
		}
		if err := ValidateFact("update.reason", u.Reason, MaxUpdateReasonLen, false); err != nil {
			return err
		}
	}
	return nil
}

// MaxDomainLen caps the fleet's DNS domain, leaving room for a 63-character
// machine name in a 253-character DNS name.
const MaxDomainLen = 180

// ValidateDomain checks the fleet's DNS domain: dot-separated labels as
// machine names are (lowercase letters, digits, '-'), without a leading
// or trailing dot, e.g. "fleet.internal".
func ValidateDomain(d string) error {
	if d == "" || len(d) > MaxDomainLen {
		return Errorf(CodeInvalidArgument, "DNS domain must be 1–%d characters", MaxDomainLen)
	}
	for _, l := range strings.Split(d, ".") {
		if err := ValidateName(l); err != nil {
			return Errorf(CodeInvalidArgument, "DNS domain %q: label %q: lowercase letters, digits and '-', not starting or ending with '-'", d, l)
		}
	}
	return nil
}

// MaxRecordNameLen caps a DNS record's name (relative to the domain).
const MaxRecordNameLen = 63

// NormalizeDNSRecordName checks a record's name (relative to the fleet
// domain) and returns it lowercase without a trailing dot.
func NormalizeDNSRecordName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if n == "" || len(n) > MaxRecordNameLen {
		return n, Errorf(CodeInvalidArgument, "record name must be 1–%d characters, relative to the fleet domain (\"db\", \"api.prod\")", MaxRecordNameLen)
	}
	for _, l := range strings.Split(n, ".") {
		if ValidateName(l) != nil {
			return n, Errorf(CodeInvalidArgument, "record name %q: label %q: lowercase letters, digits and '-', not starting or ending with '-'", name, l)
		}
	}
	return n, nil
}

// NormalizeDNSRecord checks an admin's DNS record and returns it in
// canonical form: lowercase name and type, a parsed address, a CNAME
// target without the trailing dot.
func NormalizeDNSRecord(r DNSRecord) (DNSRecord, error) {
	out := DNSRecord{Type: strings.ToUpper(strings.TrimSpace(r.Type))}
	var err error
	if out.Name, err = NormalizeDNSRecordName(r.Name); err != nil {
		return out, err
	}
	v := strings.TrimSpace(r.Value)
	switch out.Type {
	case "A", "AAAA":
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" || (out.Type == "A") != a.Is4() {
			want := map[string]string{"A": "an IPv4 address", "AAAA": "an IPv6 address"}[out.Type]
			return out, Errorf(CodeInvalidArgument, "%s record %s: value %q must be %s", out.Type, out.Name, r.Value, want)
		}
		out.Value = a.String()
	case "CNAME":
		t := strings.ToLower(strings.TrimSuffix(v, "."))
		if t == "" || len(t) > 253 {
			return out, Errorf(CodeInvalidArgument, "CNAME record %s: the target must be a DNS name", out.Name)
		}
		for _, l := range strings.Split(t, ".") {
			if l == "" || len(l) > 63 || strings.ContainsFunc(l, func(c rune) bool {
				return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_')
			}) {
				return out, Errorf(CodeInvalidArgument, "CNAME record %s: target %q is not a DNS name", out.Name, r.Value)
			}
		}
		out.Value = t
	default:
		return out, Errorf(CodeInvalidArgument, "record type %q: want A, AAAA or CNAME", r.Type)
	}
	return out, nil
}
