package wire

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Directory paths: the people and groups an identity provider keeps here
// (SCIM, OIDC groups), and the tokens it provisions with.
const (
	PathDirectory  = "/api/v1/directory"
	PathSCIMTokens = "/api/v1/scim-tokens"
	// PathSCIM is the root of the SCIM 2.0 service (RFC 7644):
	// PathSCIM+"/Users", PathSCIM+"/Groups".
	PathSCIM = "/scim/v2"
)

// DirectoryGroup is a group of people from the identity provider.
type DirectoryGroup struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	ExternalID string    `json:"external_id,omitempty"`
	Members    []string  `json:"members"` // the members' account names
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Directory is what GET /api/v1/directory answers: every person and
// group.
type Directory struct {
	People []Admin          `json:"people"`
	Groups []DirectoryGroup `json:"groups"`
}

// SCIMToken is a bearer token an identity provider provisions with.
type SCIMToken struct {
	ID         string     `json:"id"`
	Prefix     string     `json:"prefix"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// CreateSCIMTokenResponse returns the token's secret, once.
type CreateSCIMTokenResponse struct {
	Token  SCIMToken `json:"token"`
	Secret string    `json:"secret"`
}

// MaxDirectoryName bounds a directory group's name (Entra ID allows 256
// characters in a display name).
const MaxDirectoryName = 256

// ValidateDirectoryName checks a directory group's name as the identity
// provider sends it: 1–256 characters of printable UTF-8, no leading or
// trailing space.
func ValidateDirectoryName(s string) error {
	switch {
	case s == "":
		return Errorf(CodeInvalidArgument, "a directory group needs a name")
	case len(s) > MaxDirectoryName:
		return Errorf(CodeInvalidArgument, "directory group name is longer than %d bytes", MaxDirectoryName)
	case !utf8.ValidString(s):
		return Errorf(CodeInvalidArgument, "directory group name is not UTF-8")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return Errorf(CodeInvalidArgument, "directory group name %s holds a control character", fmt.Sprintf("%q", s))
		}
	}
	if r, _ := utf8.DecodeRuneInString(s); unicode.IsSpace(r) {
		return Errorf(CodeInvalidArgument, "directory group name %q starts with a space", s)
	}
	if r, _ := utf8.DecodeLastRuneInString(s); unicode.IsSpace(r) {
		return Errorf(CodeInvalidArgument, "directory group name %q ends with a space", s)
	}
	return nil
}

// ValidateUserName checks a person's account name as a directory sends it
// (SCIM userName, usually an e-mail address): 1–254 bytes of printable
// UTF-8 without spaces.
func ValidateUserName(s string) error {
	if s == "" || len(s) > 254 {
		return Errorf(CodeInvalidArgument, "userName must be 1–254 bytes")
	}
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalidArgument, "userName is not UTF-8")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return Errorf(CodeInvalidArgument, "userName %q holds a space or a control character", s)
		}
	}
	return nil
}
