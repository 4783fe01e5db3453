package wire

import "time"

// SSH over the overlay: the policy's "ssh" rules, compiled for each
// destination machine into its Self, say who may open a login session
// on it as which local user; agents ask the server only for what needs
// a person (check mode) or the server's keeping (audit, recordings).
const (
	// PathAgentSSHCheck: POST an SSHCheckRequest (a destination agent
	// asking whether the owner of the connecting machine confirmed
	// recently); the answer is an SSHCheckAnswer.
	PathAgentSSHCheck = "/api/v1/agent/ssh/check"
	// PathAgentSSHSessions: POST an SSHSessionEvent (start or end).
	PathAgentSSHSessions = "/api/v1/agent/ssh/sessions"
	// PathAgentSSHRecording: POST /{id}?offset=N appends bytes of an
	// asciinema v2 cast to session id's recording (offset: the bytes
	// already stored; a repeated append is ignored, a gap refused).
	PathAgentSSHRecording = "/api/v1/agent/ssh/recordings"
	// PathAgentSSHConsole: GET (?wait=SECONDS) the console terminals
	// waiting for this machine (SSHConsoleRequests, long-poll); GET
	// /{id} is the WebSocket the agent answers one with — an SSH
	// connection from the server, for the admin at the console.
	PathAgentSSHConsole = "/api/v1/agent/ssh/console"
	// PathSSHSessions: GET an SSHSessionList; GET /{id}/recording the
	// cast (application/x-asciicast).
	PathSSHSessions = "/api/v1/ssh/sessions"
	// PathSSHChecks: GET /{id} an SSHCheck; POST /{id}/confirm confirms
	// it (only the owner of the connecting machine, signed in).
	PathSSHChecks = "/api/v1/ssh/checks"
)

// SSH actions of a rule.
const (
	SSHActionAccept = "accept"
	SSHActionCheck  = "check"
)

// SSHConsoleSrc ("autogroup:admin") in an ssh rule's src admits the
// fleet's admins through the console's terminal.
const SSHConsoleSrc = "autogroup:admin"

// SSHConsoleRequest is a console terminal waiting for a machine's agent.
type SSHConsoleRequest struct {
	ID      string `json:"id"`
	Account string `json:"account"` // the admin at the console
	User    string `json:"user"`
}

// SSHConsoleRequests answers GET PathAgentSSHConsole.
type SSHConsoleRequests struct {
	Requests []SSHConsoleRequest `json:"requests"`
}

// SSHUserNonRoot ("autogroup:nonroot") in a rule's users stands for every
// local user but root.
const SSHUserNonRoot = "autogroup:nonroot"

// SSHPolicy is what a machine's SSH server enforces: nil in Self when
// no rule lets anyone log in to it (the server is off).
type SSHPolicy struct {
	Policy int64     `json:"policy"` // the policy version it comes from
	Rules  []SSHRule `json:"rules"`
	// Record: every session is recorded (asciinema v2, streamed to the
	// server); a session that cannot be recorded is refused.
	Record bool `json:"record,omitempty"`
}

// SSHRule lets the sources it names (as FilterRule.Src) log in as Users.
type SSHRule struct {
	Action     string   `json:"action"` // SSHActionAccept or SSHActionCheck
	Src        []string `json:"src"`
	SrcPosture []string `json:"src_posture,omitempty"`
	// Users: local user names, SSHUserNonRoot, or "*" (any).
	Users []string `json:"users"`
	// CheckPeriod, for SSHActionCheck: how recent the owner's confirmation
	// must be (seconds).
	CheckPeriod int `json:"check_period,omitempty"`
	// Forwarding allows local port forwarding (ssh -L) in its sessions.
	Forwarding bool `json:"forwarding,omitempty"`
	// Rule is the rule's position in the policy's "ssh" list (0-based),
	// for audit.
	Rule int `json:"rule"`
}

// SSHCheckRequest asks whether the owner of machine Src confirmed a
// login within Period seconds; Check, when set, is the check an earlier
// answer made (its state is asked instead).
type SSHCheckRequest struct {
	Src    string `json:"src"`    // the connecting machine's ID
	User   string `json:"user"`   // the local user asked for
	Period int    `json:"period"` // seconds
	Check  string `json:"check,omitempty"`
	// Probe only asks: no check is made when the answer is no (the
	// agent's "none" authentication, before it shows a link).
	Probe bool `json:"probe,omitempty"`
}

// SSHCheckAnswer: OK when confirmed; else URL is where the owner
// confirms check Check (Owner "" means the machine has no owner to ask:
// refused).
type SSHCheckAnswer struct {
	OK    bool   `json:"ok"`
	Check string `json:"check,omitempty"`
	URL   string `json:"url,omitempty"`
	Owner string `json:"owner,omitempty"`
}

// SSHCheck is a check as the console shows it to the person asked.
type SSHCheck struct {
	ID          string     `json:"id"`
	Owner       string     `json:"owner"`
	Src         string     `json:"src"` // machine name
	Dst         string     `json:"dst"` // machine name
	User        string     `json:"user"`
	CreatedAt   time.Time  `json:"created_at"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
}

// SSH session event kinds.
const (
	SSHSessionStart = "start"
	SSHSessionEnd   = "end"
	SSHSessionDeny  = "deny"
)

// SSHSessionEvent is what a destination agent reports of a session.
type SSHSessionEvent struct {
	ID    string `json:"id"`    // the session's ID, made by the agent (32 hex)
	Event string `json:"event"` // SSHSessionStart, SSHSessionEnd, SSHSessionDeny
	// Src is the connecting machine's ID ("" for the console: Console
	// names the account).
	Src     string `json:"src,omitempty"`
	SrcAddr string `json:"src_addr,omitempty"`
	Console string `json:"console,omitempty"`
	User    string `json:"user"`
	// Kind: "shell", "exec", "sftp" (what the first channel asked for).
	Kind     string    `json:"kind,omitempty"`
	Command  string    `json:"command,omitempty"`
	Rule     int       `json:"rule"`
	Recorded bool      `json:"recorded,omitempty"`
	Time     time.Time `json:"time"`
	// End: the exit status (-1: none, e.g. killed) and why it ended.
	ExitStatus int    `json:"exit_status,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// SSHSession is a session as the server keeps it.
type SSHSession struct {
	ID             string     `json:"id"`
	Machine        string     `json:"machine"`      // destination machine ID
	MachineName    string     `json:"machine_name"` // its name then
	Src            string     `json:"src,omitempty"`
	SrcName        string     `json:"src_name,omitempty"`
	Console        string     `json:"console,omitempty"`
	Owner          string     `json:"owner,omitempty"` // the person behind Src
	User           string     `json:"user"`
	Kind           string     `json:"kind,omitempty"`
	Command        string     `json:"command,omitempty"`
	Start          time.Time  `json:"start"`
	End            *time.Time `json:"end,omitempty"`
	ExitStatus     *int       `json:"exit_status,omitempty"`
	Reason         string     `json:"reason,omitempty"`
	Recorded       bool       `json:"recorded"`
	RecordingBytes int64      `json:"recording_bytes"`
}

// SSHSessionList answers GET PathSSHSessions.
type SSHSessionList struct {
	Sessions []SSHSession `json:"sessions"`
}
