package openapi

import (
	"net/http"

	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Auth is how a route authenticates.
type Auth string

const (
	None    Auth = "none"    // anyone (enrollment takes a token in its body)
	Machine Auth = "machine" // an enrolled machine's credential (wfm_…)
	Admin   Auth = "admin"   // an admin API key (wfa_…), the owner or a team's admin
	Owner   Auth = "owner"   // an admin API key of an owner (fleet-wide admin)
	SCIM    Auth = "scim"    // a SCIM token (wfs_…)
	Client  Auth = "client"  // a flag client's key (wfc_…)
	Waiting Auth = "waiting" // the waiting secret of an interactive enrollment (wfp_…)
)

// Param is a path or query parameter.
type Param struct {
	Name, In, Doc string
	Type          string // string (default), integer, boolean
	Enum          []string
	Required      bool
}

// Route is one operation of the API. Request and Response are zero values
// of the Go types that travel (their schemas are generated from pkg/wire);
// nil means no body.
type Route struct {
	Method, Path string // Path in OpenAPI form: /api/v1/machines/{id}
	ID, Summary  string
	Tag          string
	Auth         Auth
	Params       []Param
	Request      any
	// RequestType overrides the body's media type (default JSON).
	RequestType string
	Status      int // the success status (default 200)
	Response    any
	// Also are more success answers: status → body (nil: none).
	Also map[int]any
	// Raw says the success answer is not JSON (a profile, a WebSocket).
	Raw string
	// AlsoAs is another media type the success answer can take (text/csv).
	AlsoAs string
	// OptionalBody says the request body may be left out.
	OptionalBody bool
}

func path(name, doc string) Param { return Param{Name: name, In: "path", Doc: doc, Required: true} }
func query(name, typ, doc string) Param {
	return Param{Name: name, In: "query", Type: typ, Doc: doc}
}

var (
	idParam      = path("id", "the machine's ID or name")
	machineQuery = []Param{
		query("state", "string", "active, revoked, online or offline"),
		query("tag", "string", "machines with this tag"),
		query("name", "string", "machines whose name contains this"),
		query("fact", "string", "KEY=VALUE a reported fact must equal (repeatable)"),
		query("format", "string", "csv for a spreadsheet"),
	}
)

// SCIMResource is a SCIM 2.0 resource (RFC 7643): User, Group, schema or
// resource type. Its attributes are SCIM's, not Wirefleet's.
type SCIMResource map[string]any

// SCIMList is a SCIM ListResponse.
type SCIMList struct {
	Schemas      []string       `json:"schemas"`
	TotalResults int            `json:"totalResults"`
	ItemsPerPage int            `json:"itemsPerPage,omitempty"`
	StartIndex   int            `json:"startIndex,omitempty"`
	Resources    []SCIMResource `json:"Resources"`
}

// OFREPRequest is an OpenFeature Remote Evaluation Protocol request.
type OFREPRequest struct {
	Context map[string]any `json:"context,omitempty"`
}

// OFREPAnswer is one flag's evaluation (or error) under OFREP.
type OFREPAnswer map[string]any

// OFREPBulk is OFREP's bulk evaluation answer.
type OFREPBulk struct {
	Flags []OFREPAnswer `json:"flags"`
}

// Routes is every operation the server serves, in the order of the
// README's API reference. TestDocumentMatchesTheRouter (in the api
// package) fails when a route is missing here or here but not served.
var Routes = []Route{
	// Enrollment and the agent's protocol.
	{Method: "POST", Path: wire.PathEnroll, ID: "enroll", Summary: "Enroll a machine with a token", Tag: "agent", Auth: None, Request: wire.EnrollRequest{}, Response: wire.EnrollResponse{}},
	{Method: "POST", Path: wire.PathEnrollInteractive, ID: "requestEnrollment", Summary: "Ask to join without a token (an admin approves)", Tag: "agent", Auth: None, Request: wire.EnrollRequest{}, Status: http.StatusCreated, Response: wire.InteractiveEnrollResponse{}},
	{Method: "GET", Path: wire.PathEnrollWait, ID: "waitEnrollment", Summary: "Wait for an admin's decision on an interactive enrollment", Tag: "agent", Auth: Waiting,
		Params:   []Param{query("wait", "integer", "seconds to hold the request while nobody decided (0–3600)")},
		Response: wire.EnrollResponse{}, Also: map[int]any{http.StatusAccepted: map[string]string{}}},
	{Method: "GET", Path: wire.PathNetmap, ID: "netmap", Summary: "The machine's network map: full, or a delta since a version (long-poll)", Tag: "agent", Auth: Machine,
		Params: []Param{query("since", "integer", "the map version the agent holds (0: a full map)"), query("wait", "integer", "seconds to hold the poll when nothing changed")}, Response: wire.NetMap{}},
	{Method: "POST", Path: wire.PathEndpoints, ID: "reportEndpoints", Summary: "Report the machine's UDP endpoints", Tag: "agent", Auth: Machine, Request: wire.EndpointsRequest{}, Response: wire.EndpointsRequest{}},
	{Method: "POST", Path: wire.PathRekey, ID: "rekey", Summary: "Replace the machine's WireGuard public key", Tag: "agent", Auth: Machine, Request: wire.RekeyRequest{}, Response: wire.Machine{}},
	{Method: "POST", Path: wire.PathCredential, ID: "nextCredential", Summary: "Issue the machine's next credential (rotation)", Tag: "agent", Auth: Machine, Response: wire.CredentialResponse{}},
	{Method: "POST", Path: wire.PathReauth, ID: "reauth", Summary: "Re-authenticate an expired machine with a token", Tag: "agent", Auth: Machine, Request: wire.ReauthRequest{}, Response: wire.Machine{}},
	{Method: "POST", Path: wire.PathHealth, ID: "reportHealth", Summary: "Report health (facts, update outcomes, flag usage)", Tag: "agent", Auth: Machine, Request: wire.HealthReport{}, Status: http.StatusAccepted, Response: wire.HealthAck{}},
	{Method: "POST", Path: wire.PathAgentFlows, ID: "reportFlows", Summary: "Report flow records (the body may be gzip'ed: Content-Encoding: gzip)", Tag: "agent", Auth: Machine, Request: wire.FlowReport{}, Status: http.StatusNoContent},
	{Method: "POST", Path: wire.PathLogout, ID: "logout", Summary: "Leave the fleet (the machine revokes itself)", Tag: "agent", Auth: Machine, Status: http.StatusNoContent},
	{Method: "GET", Path: wire.PathAgentFlags, ID: "agentFlags", Summary: "The machine's feature flags (long-poll with If-None-Match)", Tag: "agent", Auth: Machine,
		Params: []Param{query("wait", "integer", "seconds to hold the poll while the ETag matches")}, Response: wire.FlagSet{}, Also: map[int]any{http.StatusNotModified: nil}},
	{Method: "GET", Path: wire.PathRelay, ID: "relay", Summary: "Relay session (WebSocket, subprotocols wirefleet-relay-1/-2)", Tag: "agent", Auth: Machine, Status: http.StatusSwitchingProtocols, Raw: "websocket"},
	{Method: "GET", Path: wire.PathRelayMesh, ID: "relayMesh", Summary: "Relay link between replicas (WebSocket; replicas authenticate in-band)", Tag: "agent", Auth: None, Status: http.StatusSwitchingProtocols, Raw: "websocket"},
	{Method: "POST", Path: wire.PathAgentRoutes, ID: "advertiseRoutes", Summary: "Advertise subnet routes and exit-node readiness", Tag: "agent", Auth: Machine, Request: wire.RoutesAdvert{}, Response: wire.RoutesAdvert{}},
	{Method: "POST", Path: wire.PathAgentPeerRelay, ID: "checkPeerRelay", Summary: "May this machine relay between two peers?", Tag: "agent", Auth: Machine, Request: wire.PeerRelayCheck{}, Status: http.StatusNoContent},
	{Method: "POST", Path: wire.PathAgentSSHCheck, ID: "sshCheck", Summary: "Has the owner of a connecting machine confirmed an SSH login (a check rule)?", Tag: "agent", Auth: Machine, Request: wire.SSHCheckRequest{}, Response: wire.SSHCheckAnswer{}},
	{Method: "POST", Path: wire.PathAgentSSHSessions, ID: "reportSSHSession", Summary: "Report an SSH session's start, end or a refused login", Tag: "agent", Auth: Machine, Request: wire.SSHSessionEvent{}, Status: http.StatusNoContent},
	{Method: "GET", Path: wire.PathAgentSSHConsole, ID: "sshConsoleRequests", Summary: "Console terminals waiting for this machine (long-poll)", Tag: "agent", Auth: Machine,
		Params: []Param{query("wait", "integer", "seconds to hold the poll while none waits")}, Response: wire.SSHConsoleRequests{}},
	{Method: "GET", Path: wire.PathAgentSSHConsole + "/{id}", ID: "answerSSHConsole", Summary: "Answer a console terminal: a WebSocket the server's SSH client runs over", Tag: "agent", Auth: Machine,
		Params: []Param{path("id", "the request's ID")}, Status: http.StatusSwitchingProtocols, Raw: "websocket"},
	{Method: "POST", Path: wire.PathAgentSSHRecording + "/{id}", ID: "appendSSHRecording", Summary: "Append to a session's recording (asciinema v2) at an offset", Tag: "agent", Auth: Machine,
		Params: []Param{path("id", "the session's ID"), {Name: "offset", In: "query", Type: "integer", Required: true, Doc: "the bytes of the recording the server holds"}}, RequestType: "application/x-asciicast", Status: http.StatusNoContent},

	// The server.
	{Method: "GET", Path: wire.PathOpenAPI, ID: "openapi", Summary: "This document", Tag: "server", Auth: None, Response: map[string]any{}},
	{Method: "GET", Path: wire.PathServer, ID: "serverInfo", Summary: "The server: version, URL, pins, counts", Tag: "server", Auth: Owner, Response: wire.ServerInfo{}},
	{Method: "POST", Path: wire.PathTLSRotate, ID: "rotateTLS", Summary: "Serve with the announced next TLS key", Tag: "server", Auth: Owner, Request: wire.TLSRotateRequest{}, Response: wire.TLSRotateResponse{}},
	{Method: "GET", Path: wire.PathSecrets, ID: "secretsStatus", Summary: "The server's own secrets: sealed or plain, ages, the KEK's source", Tag: "server", Auth: Owner, Response: wire.SecretsStatus{}},
	{Method: "POST", Path: wire.PathSecrets + "/seal", ID: "sealSecrets", Summary: "Seal a plain server's secrets in place", Tag: "server", Auth: Owner, Response: wire.SecretsStatus{}},
	{Method: "POST", Path: wire.PathSecrets + "/rotate", ID: "rotateSecret", Summary: "Replace one of the server's secrets (tls, signing, sso, metrics, kek)", Tag: "server", Auth: Owner, Request: wire.RotateSecretRequest{}, Response: wire.RotateSecretResponse{}},

	// Enrollments an admin decides.
	{Method: "GET", Path: wire.PathEnrollments, ID: "listEnrollments", Summary: "Machines waiting for approval", Tag: "enrollments", Auth: Owner, Response: []wire.PendingEnrollment{}},
	{Method: "POST", Path: wire.PathEnrollments + "/{code}/{decision}", ID: "decideEnrollment", Summary: "Approve or deny an interactive enrollment", Tag: "enrollments", Auth: Owner,
		Params: []Param{path("code", "the enrollment's code"), {Name: "decision", In: "path", Required: true, Enum: []string{"approve", "deny"}}}, Response: wire.PendingEnrollment{}},

	// Tokens.
	{Method: "POST", Path: wire.PathTokens, ID: "createToken", Summary: "Create an enrollment token (its secret is shown once)", Tag: "tokens", Auth: Admin, Request: wire.CreateTokenRequest{}, Status: http.StatusCreated, Response: wire.CreateTokenResponse{}},
	{Method: "GET", Path: wire.PathTokens, ID: "listTokens", Summary: "Enrollment tokens (never their secrets)", Tag: "tokens", Auth: Admin, Response: []wire.Token{}},
	{Method: "DELETE", Path: wire.PathTokens + "/{id}", ID: "revokeToken", Summary: "Revoke a token", Tag: "tokens", Auth: Admin, Params: []Param{path("id", "the token's ID or prefix")}, Response: wire.Token{}},

	// Machines.
	{Method: "GET", Path: wire.PathMachines, ID: "listMachines", Summary: "Machines", Tag: "machines", Auth: Admin, Params: machineQuery, Response: []wire.Machine{}, AlsoAs: "text/csv"},
	{Method: "GET", Path: wire.PathMachines + "/{id}", ID: "getMachine", Summary: "One machine", Tag: "machines", Auth: Admin, Params: []Param{idParam}, Response: wire.Machine{}},
	{Method: "PATCH", Path: wire.PathMachines + "/{id}", ID: "updateMachine", Summary: "Rename, re-tag, pin a version, set expiry or owner", Tag: "machines", Auth: Admin, Params: []Param{idParam}, Request: wire.UpdateMachineRequest{}, Response: wire.Machine{}},
	{Method: "POST", Path: wire.PathMachines + "/{id}/revoke", ID: "revokeMachine", Summary: "Revoke a machine (its tunnels end at once)", Tag: "machines", Auth: Admin, Params: []Param{idParam}, Response: wire.Machine{}},
	{Method: "POST", Path: wire.PathMachines + "/{id}/rotate-key", ID: "rotateMachineKey", Summary: "Ask a machine's agent to replace its WireGuard key", Tag: "machines", Auth: Admin, Params: []Param{idParam}, Response: wire.Machine{}},
	{Method: "POST", Path: wire.PathRotateKeys, ID: "rotateAllKeys", Summary: "Ask every machine to replace its WireGuard key", Tag: "machines", Auth: Owner, Response: wire.RotateKeysResponse{}},
	{Method: "DELETE", Path: wire.PathMachines + "/{id}", ID: "deleteMachine", Summary: "Delete a machine", Tag: "machines", Auth: Admin, Params: []Param{idParam}, Response: wire.Machine{}},
	{Method: "GET", Path: wire.PathMachines + "/{id}/health", ID: "machineHealth", Summary: "A machine's recent health reports", Tag: "machines", Auth: Admin, Params: []Param{idParam, query("limit", "integer", "how many reports")}, Response: wire.MachineHealth{}},

	// Routes, flows, audit.
	{Method: "GET", Path: wire.PathRoutes, ID: "listRoutes", Summary: "Advertised subnet routes and exit nodes, approved or not", Tag: "routes", Auth: Owner, Response: wire.RoutesResponse{}},
	{Method: "POST", Path: wire.PathRoutes + "/{machine}/{decision}", ID: "decideRoutes", Summary: "Approve or reject a machine's routes", Tag: "routes", Auth: Admin,
		Params: []Param{path("machine", "the machine's ID or name"), {Name: "decision", In: "path", Required: true, Enum: []string{"approve", "reject"}}}, Request: wire.RouteDecision{}, Response: wire.Machine{}},
	{Method: "GET", Path: wire.PathFlows, ID: "listFlows", Summary: "Flow records", Tag: "flows", Auth: Owner,
		Params:   []Param{query("machine", "string", ""), query("addr", "string", ""), query("port", "integer", ""), query("verdict", "string", "allowed or denied"), query("since", "string", "e.g. 1h"), query("cursor", "string", ""), query("limit", "integer", ""), query("format", "string", "jsonl")},
		Response: wire.FlowsResponse{}},
	{Method: "GET", Path: wire.PathSSHSessions, ID: "listSSHSessions", Summary: "SSH sessions over the overlay, newest first", Tag: "ssh", Auth: Owner,
		Params: []Param{query("machine", "string", "sessions to this machine (ID or name)"), query("limit", "integer", "1–1000")}, Response: wire.SSHSessionList{}},
	{Method: "GET", Path: wire.PathSSHSessions + "/{id}/recording", ID: "getSSHRecording", Summary: "A session's recording (asciinema v2 cast)", Tag: "ssh", Auth: Owner,
		Params: []Param{path("id", "the session's ID")}, Raw: "application/x-asciicast"},
	{Method: "GET", Path: wire.PathSSHChecks + "/{id}", ID: "getSSHCheck", Summary: "A login waiting for your confirmation (you own its source)", Tag: "ssh", Auth: Admin, Params: []Param{path("id", "the check's ID")}, Response: wire.SSHCheck{}},
	{Method: "POST", Path: wire.PathSSHChecks + "/{id}/confirm", ID: "confirmSSHCheck", Summary: "Confirm a login from your machine", Tag: "ssh", Auth: Admin, Params: []Param{path("id", "the check's ID")}, Response: wire.SSHCheck{}},
	{Method: "GET", Path: wire.PathAudit, ID: "listAudit", Summary: "The audit log, newest first", Tag: "audit", Auth: Admin,
		Params: []Param{query("action", "string", "events whose action starts with this"), query("target", "string", ""), query("actor", "string", ""), query("limit", "integer", ""), query("before", "integer", "events before this ID")}, Response: wire.AuditPage{}},

	// Releases.
	{Method: "GET", Path: wire.PathReleases, ID: "listReleases", Summary: "Channels, agent versions, recent self-updates", Tag: "releases", Auth: Owner, Response: wire.ReleasesInfo{}},
	{Method: "PUT", Path: wire.PathReleases + "/files/{name}", ID: "uploadReleaseFile", Summary: "Upload a release binary", Tag: "releases", Auth: Owner, Params: []Param{path("name", "the file's name")}, RequestType: "application/octet-stream", Response: UploadedFile{}},
	{Method: "PUT", Path: wire.PathReleases + "/keys", ID: "publishKeys", Summary: "Publish the root key and a keys.json it signed", Tag: "releases", Auth: Owner, Request: wire.PublishKeysRequest{}, Status: http.StatusNoContent},
	{Method: "PUT", Path: wire.PathReleases + "/channels/{channel}", ID: "publishManifest", Summary: "Publish a channel's signed manifest", Tag: "releases", Auth: Owner, Params: []Param{path("channel", "")}, Request: wire.PublishManifestRequest{}, Response: release.Manifest{}},
	{Method: "POST", Path: wire.PathReleases + "/channels/{channel}/{action}", ID: "pauseChannel", Summary: "Pause or resume a channel's rollout", Tag: "releases", Auth: Owner,
		Params: []Param{path("channel", ""), {Name: "action", In: "path", Required: true, Enum: []string{"pause", "resume"}}}, Status: http.StatusNoContent},

	// Flags.
	{Method: "GET", Path: wire.PathFlags, ID: "listFlags", Summary: "Feature flags", Tag: "flags", Auth: Admin, Response: []wire.Flag{}},
	{Method: "GET", Path: wire.PathFlags + "/{key}", ID: "getFlag", Summary: "One flag", Tag: "flags", Auth: Admin, Params: []Param{path("key", "")}, Response: wire.Flag{}},
	{Method: "PUT", Path: wire.PathFlags + "/{key}", ID: "putFlag", Summary: "Create or replace a flag", Tag: "flags", Auth: Admin, Params: []Param{path("key", "")}, Request: wire.Flag{}, Response: wire.Flag{}},
	{Method: "DELETE", Path: wire.PathFlags + "/{key}", ID: "deleteFlag", Summary: "Delete a flag", Tag: "flags", Auth: Admin, Params: []Param{path("key", "")}, Status: http.StatusNoContent},
	{Method: "GET", Path: wire.PathFlags + "/{key}/usage", ID: "flagUsage", Summary: "Who evaluated a flag in the last day and week", Tag: "flags", Auth: Admin, Params: []Param{path("key", "")}, Response: wire.FlagUsage{}},
	{Method: "POST", Path: wire.PathFlagClients, ID: "createFlagClient", Summary: "Create a flag client (its key is shown once)", Tag: "flags", Auth: Admin, Request: wire.CreateFlagClientRequest{}, Status: http.StatusCreated, Response: wire.FlagClientKeyResponse{}},
	{Method: "GET", Path: wire.PathFlagClients, ID: "listFlagClients", Summary: "Flag clients", Tag: "flags", Auth: Admin, Response: []wire.FlagClient{}},
	{Method: "POST", Path: wire.PathFlagClientsBulk, ID: "bulkFlagClients", Summary: "Enable, disable or rotate several clients", Tag: "flags", Auth: Admin, Request: wire.BulkFlagClientsRequest{}, Response: wire.BulkFlagClientsResponse{}},
	{Method: "PATCH", Path: wire.PathFlagClients + "/{name}", ID: "updateFlagClient", Summary: "Change a client", Tag: "flags", Auth: Admin, Params: []Param{path("name", "")}, Request: wire.UpdateFlagClientRequest{}, Response: wire.FlagClient{}},
	{Method: "DELETE", Path: wire.PathFlagClients + "/{name}", ID: "deleteFlagClient", Summary: "Delete a client", Tag: "flags", Auth: Admin, Params: []Param{path("name", "")}, Status: http.StatusNoContent},
	{Method: "POST", Path: wire.PathFlagClients + "/{name}/keys", ID: "addFlagClientKey", Summary: "Give a client another key (rotation)", Tag: "flags", Auth: Admin, Params: []Param{path("name", "")}, Status: http.StatusCreated, Response: wire.FlagClientKeyResponse{}},
	{Method: "DELETE", Path: wire.PathFlagClients + "/{name}/keys/{key}", ID: "revokeFlagClientKey", Summary: "Revoke one of a client's keys", Tag: "flags", Auth: Admin, Params: []Param{path("name", ""), path("key", "the key's prefix")}, Response: wire.FlagClient{}},

	// Policy and names.
	{Method: "GET", Path: wire.PathPolicy, ID: "getPolicy", Summary: "The access policy (HuJSON)", Tag: "policy", Auth: Owner, Response: wire.Policy{}},
	{Method: "PUT", Path: wire.PathPolicy, ID: "putPolicy", Summary: "Replace the access policy (checked, its tests run; dry_run checks only)", Tag: "policy", Auth: Owner, Request: wire.PutPolicyRequest{}, Response: wire.Policy{}},
	{Method: "POST", Path: wire.PathPolicyQuery, ID: "queryPolicy", Summary: "May SRC reach DST:PORT, and why", Tag: "policy", Auth: Owner, Request: wire.PolicyQuery{}, Response: wire.PolicyAnswer{}},
	{Method: "GET", Path: wire.PathDNSRecords, ID: "listDNSRecords", Summary: "DNS records of the fleet's domain", Tag: "dns", Auth: Owner, Response: wire.DNSRecordsResponse{}},
	{Method: "POST", Path: wire.PathDNSRecords, ID: "addDNSRecord", Summary: "Add a DNS record", Tag: "dns", Auth: Owner, Request: wire.DNSRecord{}, Status: http.StatusCreated, Response: wire.DNSRecord{}},
	{Method: "DELETE", Path: wire.PathDNSRecords + "/{name}", ID: "removeDNSRecords", Summary: "Remove a name's records (of one type, with one value)", Tag: "dns", Auth: Owner, Params: []Param{path("name", ""), query("type", "string", "A, AAAA or CNAME"), query("value", "string", "only the record with this value")}, Response: wire.DNSRecordsResponse{}},

	// Admins, keys, teams, the directory.
	{Method: "POST", Path: wire.PathAPIKeys, ID: "createAPIKey", Summary: "Create an API key (shown once)", Tag: "admins", Auth: Admin, Request: wire.CreateAPIKeyRequest{}, Status: http.StatusCreated, Response: wire.CreateAPIKeyResponse{}},
	{Method: "GET", Path: wire.PathAPIKeys, ID: "listAPIKeys", Summary: "API keys (never their secrets)", Tag: "admins", Auth: Admin, Response: []wire.APIKey{}},
	{Method: "DELETE", Path: wire.PathAPIKeys + "/{id}", ID: "revokeAPIKey", Summary: "Revoke an API key", Tag: "admins", Auth: Admin, Params: []Param{path("id", "the key's ID or prefix")}, Status: http.StatusNoContent},
	{Method: "POST", Path: wire.PathAdmins, ID: "createAdmin", Summary: "Create an admin (password and API key shown once)", Tag: "admins", Auth: Owner, Request: wire.CreateAdminRequest{}, Status: http.StatusCreated, Response: wire.CreateAdminResponse{}},
	{Method: "GET", Path: wire.PathAdmins, ID: "listAdmins", Summary: "Admins", Tag: "admins", Auth: Owner, Response: []wire.Admin{}},
	{Method: "DELETE", Path: wire.PathAdmins + "/{id}", ID: "deleteAdmin", Summary: "Delete an admin", Tag: "admins", Auth: Owner, Params: []Param{path("id", "the admin's ID or name")}, Status: http.StatusNoContent},
	{Method: "POST", Path: wire.PathAdmins + "/{id}/password", ID: "resetPassword", Summary: "Give an admin a new password (shown once)", Tag: "admins", Auth: Owner, Params: []Param{path("id", "the admin's ID or name")}, Response: wire.PasswordResponse{}},
	{Method: "GET", Path: wire.PathTeams, ID: "listTeams", Summary: "Teams", Tag: "teams", Auth: Admin, Response: []wire.Team{}},
	{Method: "PUT", Path: wire.PathTeams + "/{name}", ID: "putTeam", Summary: "Create or replace a team", Tag: "teams", Auth: Owner, Params: []Param{path("name", "")}, Request: wire.PutTeamRequest{}, Response: wire.Team{}},
	{Method: "DELETE", Path: wire.PathTeams + "/{name}", ID: "deleteTeam", Summary: "Delete a team", Tag: "teams", Auth: Owner, Params: []Param{path("name", "")}, Status: http.StatusNoContent},
	{Method: "GET", Path: wire.PathDirectory, ID: "getDirectory", Summary: "People and groups from the identity provider", Tag: "directory", Auth: Owner, Response: wire.Directory{}},
	{Method: "POST", Path: wire.PathSCIMTokens, ID: "createSCIMToken", Summary: "Create a SCIM token (shown once)", Tag: "directory", Auth: Owner, Status: http.StatusCreated, Response: wire.CreateSCIMTokenResponse{}},
	{Method: "GET", Path: wire.PathSCIMTokens, ID: "listSCIMTokens", Summary: "SCIM tokens", Tag: "directory", Auth: Owner, Response: []wire.SCIMToken{}},
	{Method: "DELETE", Path: wire.PathSCIMTokens + "/{id}", ID: "revokeSCIMToken", Summary: "Revoke a SCIM token", Tag: "directory", Auth: Owner, Params: []Param{path("id", "")}, Status: http.StatusNoContent},

	// SCIM 2.0 (RFC 7644), for the identity provider.
	{Method: "GET", Path: wire.PathSCIM + "/Users", ID: "scimListUsers", Summary: "SCIM: list or filter people", Tag: "scim", Auth: SCIM, Params: scimListParams, Response: SCIMList{}},
	{Method: "POST", Path: wire.PathSCIM + "/Users", ID: "scimCreateUser", Summary: "SCIM: create a person", Tag: "scim", Auth: SCIM, Request: SCIMResource{}, RequestType: scimType, Status: http.StatusCreated, Response: SCIMResource{}},
	{Method: "POST", Path: wire.PathSCIM + "/Users/.search", ID: "scimSearchUsers", Summary: "SCIM: search people", Tag: "scim", Auth: SCIM, Request: SCIMResource{}, RequestType: scimType, Response: SCIMList{}},
	{Method: "GET", Path: wire.PathSCIM + "/Users/{id}", ID: "scimGetUser", Summary: "SCIM: a person", Tag: "scim", Auth: SCIM, Params: []Param{path("id", "")}, Response: SCIMResource{}},
	{Method: "PUT", Path: wire.PathSCIM + "/Users/{id}", ID: "scimReplaceUser", Summary: "SCIM: replace a person", Tag: "scim", Auth: SCIM, Params: []Param{path("id", "")}, Request: SCIMResource{}, RequestType: scimType, Response: SCIMResource{}},
	{Method: "PATCH", Path: wire.PathSCIM + "/Users/{id}", ID: "scimPatchUser", Summary: "SCIM: change a person (deactivate: active=false)", Tag: "scim", Auth: SCIM, Params: []Param{path("id", "")}, Request: SCIMResource{}, RequestType: scimType, Response: SCIMResource{}, Also: map[int]any{http.StatusNoContent: nil}},
	{Method: "DELETE", Path: wire.PathSCIM + "/Users/{id}", ID: "scimDeleteUser", Summary: "SCIM: delete a person", Tag: "scim", Auth: SCIM, Params: []Param{path("id", "")}, Status: http.StatusNoContent},
	{Method: "GET", Path: wire.PathSCIM + "/Groups", ID: "scimListGroups", Summary: "SCIM: list or filter groups", Tag: "scim", Auth: SCIM, Params: scimListParams, Response: SCIMList{}},
	{Method: "POST", Path: wire.PathSCIM + "/Groups", ID: "scimCreateGroup", Summary: "SCIM: create a group", Tag: "scim", Auth: SCIM, Request: SCIMResource{}, RequestType: scimType, Status: http.StatusCreated, Response: SCIMResource{}},
	{Method: "POST", Path: wire.PathSCIM + "/Groups/.search", ID: "scimSearchGroups", Summary: "SCIM: search groups", Tag: "scim", Auth: SCIM, Request: SCIMResource{}, RequestType: scimType, Response: SCIMList{}},
	{Method: "GET", Path: wire.PathSCIM + "/Groups/{id}", ID: "scimGetGroup", Summary: "SCIM: a group", Tag: "scim", Auth: SCIM, Params: []Param{path("id", "")}, Response: SCIMResource{}},
	{Method: "PUT", Path: wire.PathSCIM + "/Groups/{id}", ID: "scimReplaceGroup", Summary: "SCIM: replace a group", Tag: "scim", Auth: SCIM, Params: []Param{path("id", "")}, Request: SCIMResource{}, RequestType: scimType, Response: SCIMResource{}},
	{Method: "PATCH", Path: wire.PathSCIM + "/Groups/{id}", ID: "scimPatchGroup", Summary: "SCIM: change a group's members", Tag: "scim", Auth: SCIM, Params: []Param{path("id", "")}, Request: SCIMResource{}, RequestType: scimType, Response: SCIMResource{}, Also: map[int]any{http.StatusNoContent: nil}},
	{Method: "DELETE", Path: wire.PathSCIM + "/Groups/{id}", ID: "scimDeleteGroup", Summary: "SCIM: delete a group", Tag: "scim", Auth: SCIM, Params: []Param{path("id", "")}, Status: http.StatusNoContent},
	{Method: "GET", Path: wire.PathSCIM + "/ServiceProviderConfig", ID: "scimServiceProviderConfig", Summary: "SCIM: what this server supports", Tag: "scim", Auth: SCIM, Response: SCIMResource{}},
	{Method: "GET", Path: wire.PathSCIM + "/Schemas", ID: "scimSchemas", Summary: "SCIM: schemas", Tag: "scim", Auth: SCIM, Response: SCIMList{}},
	{Method: "GET", Path: wire.PathSCIM + "/Schemas/{id}", ID: "scimSchema", Summary: "SCIM: one schema", Tag: "scim", Auth: SCIM, Params: []Param{path("id", "")}, Response: SCIMResource{}},
	{Method: "GET", Path: wire.PathSCIM + "/ResourceTypes", ID: "scimResourceTypes", Summary: "SCIM: resource types", Tag: "scim", Auth: SCIM, Response: SCIMList{}},
	{Method: "GET", Path: wire.PathSCIM + "/ResourceTypes/{id}", ID: "scimResourceType", Summary: "SCIM: one resource type", Tag: "scim", Auth: SCIM, Params: []Param{path("id", "")}, Response: SCIMResource{}},

	// OpenFeature Remote Evaluation Protocol, for flag clients.
	{Method: "POST", Path: "/ofrep/v1/evaluate/flags", ID: "ofrepBulk", Summary: "OFREP: evaluate every flag the client may read", Tag: "ofrep", Auth: Client, Request: OFREPRequest{}, OptionalBody: true, Response: OFREPBulk{}, Also: map[int]any{http.StatusNotModified: nil}},
	{Method: "POST", Path: "/ofrep/v1/evaluate/flags/{key}", ID: "ofrepSingle", Summary: "OFREP: evaluate one flag", Tag: "ofrep", Auth: Client, Params: []Param{path("key", "")}, Request: OFREPRequest{}, OptionalBody: true, Response: OFREPAnswer{}},

	// Profiles (net/http/pprof), for owners.
	{Method: "GET", Path: "/debug/pprof/", ID: "pprofIndex", Summary: "Profiles: the index", Tag: "debug", Auth: Owner, Raw: "text/html"},
	{Method: "GET", Path: "/debug/pprof/cmdline", ID: "pprofCmdline", Summary: "Profiles: the command line", Tag: "debug", Auth: Owner, Raw: "text/plain"},
	{Method: "GET", Path: "/debug/pprof/profile", ID: "pprofProfile", Summary: "Profiles: CPU profile", Tag: "debug", Auth: Owner, Params: []Param{query("seconds", "integer", "")}, Raw: "application/octet-stream"},
	{Method: "GET", Path: "/debug/pprof/symbol", ID: "pprofSymbol", Summary: "Profiles: symbols", Tag: "debug", Auth: Owner, Raw: "text/plain"},
	{Method: "GET", Path: "/debug/pprof/trace", ID: "pprofTrace", Summary: "Profiles: execution trace", Tag: "debug", Auth: Owner, Params: []Param{query("seconds", "integer", "")}, Raw: "application/octet-stream"},
}

const scimType = "application/scim+json"

var scimListParams = []Param{query("filter", "string", `e.g. userName eq "alice@corp.example"`), query("startIndex", "integer", ""), query("count", "integer", "")}

// UploadedFile answers a release file upload.
type UploadedFile struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}
