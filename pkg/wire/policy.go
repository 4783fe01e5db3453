package wire

import "time"

// PathPolicy is the access-control policy: GET it, PUT a PutPolicyRequest;
// POST a PolicyQuery to PathPolicyQuery to ask what it allows.
const (
	PathPolicy      = "/api/v1/policy"
	PathPolicyQuery = "/api/v1/policy/query"
)

// Policy is the access-control policy in force. Text "" means none: every
// machine reaches every machine.
type Policy struct {
	Version   int64              `json:"version"`
	Text      string             `json:"text"`
	Author    string             `json:"author,omitempty"`
	CreatedAt *time.Time         `json:"created_at,omitempty"`
	Rules     int                `json:"rules"`
	Tests     []PolicyTestResult `json:"tests"`
	// Applied is false for a dry run (check) or a text identical to the
	// one in force.
	Applied bool `json:"applied,omitempty"`
}

// PolicyTestResult is one expectation of the policy's tests.
type PolicyTestResult struct {
	Src    string `json:"src"`
	Dst    string `json:"dst"`
	Accept bool   `json:"accept"` // what the test expects
	Pass   bool   `json:"pass"`
}

// PutPolicyRequest replaces the policy ("" removes it). With DryRun it is
// only checked.
type PutPolicyRequest struct {
	Text   string `json:"text"`
	DryRun bool   `json:"dry_run,omitempty"`
}

// PolicyQuery asks whether Src (tag:NAME, machine:NAME or an overlay
// address) may reach Dst (the same, then :PORT, :PORT/udp or :icmp).
type PolicyQuery struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
	// SrcFacts are facts the source is taken to have, "KEY=VALUE"
	// ("os.version=11"), over what its agent reported: what would a
	// posture make of it?
	SrcFacts []string `json:"src_facts,omitempty"`
}

// PolicyAnswer answers a PolicyQuery under policy Version.
type PolicyAnswer struct {
	Allowed bool   `json:"allowed"`
	Version int64  `json:"version"`
	Reason  string `json:"reason"`
}

// Filter is what a machine enforces on its tunnel under the access policy:
// who may open connections to it. Replies to its own connections always
// pass.
type Filter struct {
	Policy int64        `json:"policy"` // the policy version it comes from
	Rules  []FilterRule `json:"rules"`  // none: nobody may connect
}

// FilterRule lets the sources it names open connections with Proto to
// Ports.
type FilterRule struct {
	// Src: "*", "tag:NAME", "machine:NAME" (name or ID) or an address or
	// range; the agent resolves names and tags against its peers.
	Src []string `json:"src"`
	// Dst, on a machine that routes, is what forwarded traffic may reach:
	// subnets ("10.20.0.0/16"), "routes" (every subnet the machine
	// routes) and "autogroup:internet" (through an exit node). Empty: the
	// machine's own addresses, and nothing forwarded.
	Dst   []string `json:"dst,omitempty"`
	Proto string   `json:"proto,omitempty"` // tcp, udp, icmp; empty: any
	Ports []string `json:"ports,omitempty"` // "443", "8000-8100"; none: all
	// SrcPosture, when set, admits only sources that are peers having
	// one of these postures (Peer.Postures).
	SrcPosture []string `json:"src_posture,omitempty"`
}

// PathDNSRecords is the fleet's DNS records: GET a DNSRecordsResponse,
// POST a DNSRecord to add one; DELETE PathDNSRecords/{name}[?type=T]
// removes a name's records.
const PathDNSRecords = "/api/v1/dns/records"
