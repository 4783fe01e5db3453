package policy

import "slices"

// Directory groups under the policy.
//
// "directory:NAME" selects the machines whose owner is, right now, in the
// company directory's group NAME (SCIM /Groups, or the OIDC groups claim
// at the owner's last sign-in). A machine's owner is whoever approved its
// interactive enrollment, its token's owner, or the person an admin named.
// Policy groups usually wrap them — "group:eng": ["directory:Engineering"]
// — so that the rules speak the policy's language and the directory's
// names appear once. The server keeps each machine's owner groups up to
// date (a membership change is a map change of the owner's machines), so
// joining or leaving a group in the directory is a class change like a
// re-tag: deltas, filters and revocation speed are the same.
//
// A directory group's name is what the identity provider calls it, exact
// and case-sensitive; a name no person holds yet selects nothing, which
// is not an error (the directory may provision it later).

// Directory prefixes a selector naming a directory group.
const Directory = "directory:"

// directoryMachine stands for "a machine of a member of the group" in
// tests and queries.
func directoryMachine(who string) Machine {
	name := who[len(Directory):]
	return Machine{ID: "(test)", Name: "(a machine of a member of " + who + ")", Groups: []string{name}}
}

// DirectoryGroups returns the directory groups the policy names that m's
// owner is in, sorted: what m's peers' filters check of it (Peer.Groups),
// and no more of the directory than the policy needs.
func (p *Policy) DirectoryGroups(m Machine) []string {
	var out []string
	for _, a := range p.atoms {
		if a.kind == atomDirectory && !m.External && slices.Contains(m.Groups, a.name) {
			out = append(out, a.name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
