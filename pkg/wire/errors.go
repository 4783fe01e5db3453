// Package wire defines the JSON protocol spoken between wirefleet-agent,
// wirefleet-server and admin clients. It imports only the standard library so
// that every side of the protocol — and third-party tooling — can depend on it
// without pulling in the server or the agent.
package wire

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable, machine-readable error code. Codes never change meaning
// once released; clients switch on them rather than on messages.
type Code string

// Error codes that cross the wire. The HTTP status that goes with each code is
// given by Status.
const (
	CodeInvalidJSON      Code = "invalid_json"       // body is not valid JSON or has wrong types
	CodeUnknownField     Code = "unknown_field"      // body has a field the server does not know
	CodeDuplicateField   Code = "duplicate_field"    // body gives one field twice in an object
	CodeBodyTooLarge     Code = "body_too_large"     // body exceeds the size limit
	CodeInvalidArgument  Code = "invalid_argument"   // a field has a value that is not allowed
	CodeInvalidPublicKey Code = "invalid_public_key" // not a base64 32-byte WireGuard key
	CodeInvalidName      Code = "invalid_name"       // not a DNS label
	CodeUnauthenticated  Code = "unauthenticated"    // no or malformed credentials
	CodeForbidden        Code = "forbidden"          // credentials valid but not allowed here
	CodeNotFound         Code = "not_found"          // resource does not exist
	CodeMethodNotAllowed Code = "method_not_allowed" // route exists, method does not
	CodeConflict         Code = "conflict"           // generic uniqueness conflict
	CodeNameTaken        Code = "name_taken"         // machine name already used
	CodePublicKeyInUse   Code = "public_key_in_use"  // WireGuard key already registered
	CodeRateLimited      Code = "rate_limited"       // too many requests from this source
	CodeUpgradeRequired  Code = "upgrade_required"   // the route speaks WebSocket (RFC 6455) only
	CodeInternal         Code = "internal"           // server bug or dependency failure

	CodeTokenInvalid   Code = "token_invalid"   // unknown enrollment token
	CodeTokenExpired   Code = "token_expired"   // token past its expiry
	CodeTokenRevoked   Code = "token_revoked"   // token revoked by an admin
	CodeTokenExhausted Code = "token_exhausted" // token has no uses left (a single-use token already used)

	CodeMachineRevoked    Code = "machine_revoked"    // machine credential revoked or machine deleted
	CodeEnrollmentDenied  Code = "enrollment_denied"  // an admin denied this interactive enrollment
	CodeEnrollmentExpired Code = "enrollment_expired" // nobody approved the interactive enrollment in time
	CodeMachineExpired    Code = "machine_expired"    // the machine's enrollment expired: re-authenticate with a token (wirefleet-agent login)
	CodeAddressPool       Code = "address_pool_exhausted"
	CodeUnavailable       Code = "unavailable" // server shutting down or not ready

	CodePolicyInvalid Code = "policy_invalid" // the access policy has problems (listed in Error.Problems) or a test fails
	// CodeInvalidRoute: an advertised or decided route is not one the
	// fleet can carry (host bits, multicast, link-local, an overlap, the
	// overlay's own range, the server's address).
	CodeInvalidRoute Code = "invalid_route"
)

// Codes lists every code, for API descriptions (an enum in the OpenAPI
// document); TestCodesListsEveryCode keeps it whole.
var Codes = []Code{
	CodeInvalidJSON, CodeUnknownField, CodeDuplicateField, CodeBodyTooLarge, CodeInvalidArgument, CodeInvalidPublicKey,
	CodeInvalidName, CodeUnauthenticated, CodeForbidden, CodeNotFound, CodeMethodNotAllowed, CodeConflict, CodeNameTaken,
	CodePublicKeyInUse, CodeRateLimited, CodeUpgradeRequired, CodeInternal, CodeTokenInvalid, CodeTokenExpired,
	CodeTokenRevoked, CodeTokenExhausted, CodeMachineRevoked, CodeEnrollmentDenied, CodeEnrollmentExpired,
	CodeMachineExpired, CodeAddressPool, CodeUnavailable, CodePolicyInvalid, CodeInvalidRoute,
}

// Status maps a code to its HTTP status. It is the only place that decides
// which status an error code travels with.
func (c Code) Status() int {
	switch c {
	case CodeInvalidJSON, CodeUnknownField, CodeDuplicateField, CodeInvalidArgument, CodeInvalidPublicKey, CodeInvalidName, CodePolicyInvalid, CodeInvalidRoute:
		return http.StatusBadRequest
	case CodeBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnauthenticated, CodeMachineRevoked, CodeMachineExpired:
		return http.StatusUnauthorized
	case CodeTokenInvalid, CodeTokenExpired, CodeTokenRevoked, CodeTokenExhausted:
		return http.StatusUnauthorized
	case CodeForbidden, CodeEnrollmentDenied:
		return http.StatusForbidden
	case CodeEnrollmentExpired:
		return http.StatusGone
	case CodeNotFound:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeConflict, CodeNameTaken, CodePublicKeyInUse:
		return http.StatusConflict
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeUpgradeRequired:
		return http.StatusUpgradeRequired
	case CodeUnavailable, CodeAddressPool:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Error is a protocol error: a stable code and a human-readable message. It is
// what handlers return and what the client decodes.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Problems locates each problem in a document the request carried
	// (the access policy).
	Problems []Problem `json:"problems,omitempty"`
	// Status is the HTTP status the error arrived with; only set by clients.
	Status int `json:"-"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Problem is one problem in a submitted document, where it is.
type Problem struct {
	Line    int    `json:"line,omitempty"` // 1-based
	Col     int    `json:"col,omitempty"`
	Path    string `json:"path,omitempty"` // JSON pointer
	Message string `json:"message"`
}

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorResponse is the body of every non-2xx response.
type ErrorResponse struct {
	Error *Error `json:"error"`
}
