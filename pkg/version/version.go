// Package version compares and validates the semantic versions that agent
// releases, version pins and flag rules use. It wraps golang.org/x/mod/semver
// (which wants a leading "v") so that the rest of the code can write versions
// the way releases are named: "1.2.3", "2.0.0-beta.11", "1.4.0+build.7".
//
// Anti-rollback in the updater depends on Compare, so nothing here guesses:
// a string that is not a semantic version is invalid, and invalid versions
// sort before every valid one (an unknown "dev" build never satisfies a
// minimum and never looks newer than a release).
package version

import (
	"strings"

	"golang.org/x/mod/semver"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// canonical returns s with the "v" prefix x/mod/semver expects, or "" when
// s is not a semantic version. A leading "v" in s is accepted.
func canonical(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "v") {
		s = "v" + s
	}
	if !semver.IsValid(s) {
		return ""
	}
	return s
}

// IsValid reports whether s is a semantic version. Shorthands such as
// "1.2" (= 1.2.0) are valid here; releases must use Validate.
func IsValid(s string) bool { return canonical(s) != "" }

// Compare returns -1, 0 or +1 as a is older than, equal to or newer than b
// by semantic-version precedence: numeric identifiers compare as numbers
// (beta.2 < beta.11), a pre-release sorts before its release, and build
// metadata is ignored. Invalid versions sort before valid ones; two invalid
// versions compare as strings, so the order is still total.
func Compare(a, b string) int {
	ca, cb := canonical(a), canonical(b)
	switch {
	case ca == "" && cb == "":
		return strings.Compare(a, b)
	case ca == "":
		return -1
	case cb == "":
		return 1
	}
	return semver.Compare(ca, cb)
}

// Validate checks a release version: a full MAJOR.MINOR.PATCH semantic
// version with optional pre-release and build metadata, no "v" prefix, and
// safe to use in a URL path. Publishing and pinning refuse anything else,
// because every later update decision compares these strings.
func Validate(v string) error {
	if err := wire.ValidateVersion(v); err != nil {
		return err
	}
	core := v
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	if strings.HasPrefix(v, "v") || strings.Count(core, ".") != 2 || canonical(v) == "" {
		return wire.Errorf(wire.CodeInvalidArgument, "version %q is not a semantic version such as 1.4.0 or 2.0.0-beta.3", clip(v))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
