package policy

import (
	"slices"
	"strings"
	"testing"
)

const directoryExample = `{
  "tags": ["tag:db"],
  "groups": {"group:eng": ["directory:Engineering", "directory:SRE On-Call"]},
  "rules": [
    {"src": ["group:eng"], "dst": ["tag:db"], "ports": ["5432"]},
    {"src": ["directory:Support"], "dst": ["tag:db"], "proto": "icmp"},
  ],
  "tests": [
    {"src": "directory:Engineering", "accept": ["tag:db:5432"]},
    {"src": "directory:Sales", "deny": ["tag:db:5432", "tag:db:icmp"]},
    {"src": "directory:Support", "accept": ["tag:db:icmp"], "deny": ["tag:db:5432"]},
  ],
}`

// TestDirectorySelectors: directory:NAME selects the machines whose owner
// is in the group, through policy groups or directly; the filter rules
// name it for the agent, and peers learn only the groups the policy names.
func TestDirectorySelectors(t *testing.T) {
	p, err := Parse([]byte(directoryExample), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := machine("db-1", "100.64.0.9", "db")
	eng := machine("laptop-1", "100.64.0.1")
	eng.Groups = []string{"Engineering", "Everyone"}
	oncall := machine("laptop-2", "100.64.0.2")
	oncall.Groups = []string{"SRE On-Call"}
	sales := machine("laptop-3", "100.64.0.3")
	sales.Groups = []string{"Sales", "engineering"} // names are exact
	nobody := machine("laptop-4", "100.64.0.4")
	for _, tc := range []struct {
		src     Machine
		proto   Proto
		port    uint16
		allowed bool
	}{
		{eng, TCP, 5432, true},
		{oncall, TCP, 5432, true},
		{sales, TCP, 5432, false},
		{nobody, TCP, 5432, false},
		{eng, ICMP, 0, false},
	} {
		t.Run(tc.src.Name, func(t *testing.T) {
			if got := p.Allows(tc.src, db, tc.proto, tc.port); got != tc.allowed {
				t.Errorf("%s → db %v/%d: %v, want %v", tc.src.Name, tc.proto, tc.port, got, tc.allowed)
			}
		})
	}
	if p.ClassOf(eng) == p.ClassOf(nobody) || p.Peers(nobody, db) {
		t.Fatal("a machine outside every directory group is classed as one inside")
	}
	if got := p.DirectoryGroups(eng); !slices.Equal(got, []string{"Engineering"}) {
		t.Fatalf("DirectoryGroups(eng) = %v: the peers learn only what the policy names", got)
	}
	var srcs []string
	for _, fr := range p.Inbound(p.ClassOf(db)) {
		srcs = append(srcs, fr.Src...)
	}
	if !slices.Contains(srcs, "directory:Engineering") || !slices.Contains(srcs, "directory:SRE On-Call") {
		t.Fatalf("db's filter sources %v", srcs)
	}
}

func TestDirectoryProblems(t *testing.T) {
	for _, tc := range []struct{ name, sel, want string }{
		{"empty", "directory:", "name a group of the company's directory"},
		{"leading space", "directory: Eng", "starts with a space"},
		{"control character", "directory:Eng\\u0007", "control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(`{"rules": [{"src": ["`+tc.sel+`"], "dst": ["*"]}]}`), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a problem saying %q", err, tc.want)
			}
		})
	}
}
