// Command hostile sends bounded hostile traffic to one Wirefleet server
// and reports what it found: server errors (5xx), API answers without a
// stable JSON error code, how many of N concurrent enrollments with one
// single-use token won, and — with -kill9 — whether writes the server
// acknowledged survive `kill -9` and a restart.
//
//	go run ./scripts/hostile -server https://127.0.0.1:8443 -pin sha256/… -api-key wfa_… -requests 3000 -race 50
//	go run ./scripts/hostile -kill9 5 -server-bin bin/wirefleet-server
//
// It contacts only the given server (or, with -kill9, a server it starts
// itself on loopback in a temporary directory), sends at most -requests
// sweep requests, and exits 1 when it finds a 5xx, an answer without a
// code, a token race with other than one winner, or a lost write.
//
// The sweep changes the server it is pointed at (it enrolls machines,
// creates tokens and API keys, and whatever hostile input is accepted as
// valid): use a test server, never a production one.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Report is what a run found.
type Report struct {
	Requests     int            `json:"requests"`
	ByStatus     map[int]int    `json:"by_status"`
	ServerErrors []string       `json:"server_errors"` // "METHOD PATH → 500"
	NoCode       []string       `json:"no_code"`       // API error answers without {"error":{"code":…}}
	Race         int            `json:"race_enrollments"`
	RaceWinners  int            `json:"race_winners"`
	RaceCodes    map[string]int `json:"race_codes"`
	Kill9Rounds  int            `json:"kill9_rounds"`
	// RegressionsRun counts the checks of earlier runs' defects (see
	// regressions.go); Regressions lists those that came back.
	RegressionsRun int      `json:"regressions_run"`
	Regressions    []string `json:"regressions"`
	Acked          int      `json:"kill9_acknowledged"`
	Found          int      `json:"kill9_found"`
}

// Failed says what is wrong with the report, or "".
func (r Report) Failed() string {
	var why []string
	if len(r.ServerErrors) > 0 {
		why = append(why, fmt.Sprintf("%d server errors", len(r.ServerErrors)))
	}
	if len(r.NoCode) > 0 {
		why = append(why, fmt.Sprintf("%d API errors without a code", len(r.NoCode)))
	}
	if r.Race > 0 && r.RaceWinners != 1 {
		why = append(why, fmt.Sprintf("%d winners of a single-use token race", r.RaceWinners))
	}
	if len(r.Regressions) > 0 {
		why = append(why, fmt.Sprintf("%d of %d earlier defects back", len(r.Regressions), r.RegressionsRun))
	}
	if r.Found != r.Acked {
		why = append(why, fmt.Sprintf("%d of %d acknowledged writes lost", r.Acked-r.Found, r.Acked))
	}
	return strings.Join(why, "; ")
}

func main() {
	var (
		server, pin, apiKey, serverBin string
		requests, race, kill9          int
		asJSON                         bool
	)
	flag.StringVar(&server, "server", "", "server URL (https://host:port or http://…)")
	flag.StringVar(&pin, "pin", "", "the server's SPKI pin (self-signed servers)")
	flag.StringVar(&apiKey, "api-key", os.Getenv("WIREFLEET_API_KEY"), "admin API key")
	flag.IntVar(&requests, "requests", 2000, "hostile sweep requests (at most)")
	flag.IntVar(&race, "race", 50, "concurrent enrollments with one single-use token (0: none)")
	flag.IntVar(&kill9, "kill9", 0, "kill -9 rounds against a server this command starts (needs -server-bin)")
	flag.StringVar(&serverBin, "server-bin", "", "wirefleet-server binary for -kill9")
	flag.BoolVar(&asJSON, "json", false, "print the report as JSON")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var rep Report
	if kill9 > 0 {
		if serverBin == "" {
			fatalf("-kill9 needs -server-bin")
		}
		dir, err := os.MkdirTemp("", "wirefleet-kill9-")
		if err != nil {
			fatalf("%v", err)
		}
		defer os.RemoveAll(dir)
		if err := Kill9(ctx, serverBin, dir, kill9, &rep); err != nil {
			fatalf("kill -9: %v", err)
		}
	}
	if server != "" {
		if err := Sweep(ctx, server, pin, apiKey, requests, race, &rep); err != nil {
			fatalf("%v", err)
		}
	} else if kill9 == 0 {
		fatalf("give -server (and -api-key) for the sweep, or -kill9 with -server-bin")
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		fmt.Print(rep.Summary())
	}
	if why := rep.Failed(); why != "" {
		fmt.Fprintln(os.Stderr, "hostile: FAIL:", why)
		os.Exit(1)
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "hostile: "+format+"\n", a...)
	os.Exit(2)
}

// Summary is the report as a few lines.
func (r Report) Summary() string {
	var b strings.Builder
	codes := make([]int, 0, len(r.ByStatus))
	for c := range r.ByStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	fmt.Fprintf(&b, "sweep: %d requests;", r.Requests)
	for _, c := range codes {
		fmt.Fprintf(&b, " %d×%d", r.ByStatus[c], c)
	}
	fmt.Fprintf(&b, "\nserver errors: %d; API errors without a code: %d\n", len(r.ServerErrors), len(r.NoCode))
	for _, e := range append(append([]string{}, r.ServerErrors...), r.NoCode...) {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	if r.Race > 0 {
		fmt.Fprintf(&b, "token race: %d enrollments, %d winner(s), others: %v\n", r.Race, r.RaceWinners, r.RaceCodes)
	}
	if r.RegressionsRun > 0 {
		fmt.Fprintf(&b, "earlier defects: %d checked, %d back\n", r.RegressionsRun, len(r.Regressions))
		for _, g := range r.Regressions {
			fmt.Fprintf(&b, "  %s\n", g)
		}
	}
	if r.Kill9Rounds > 0 {
		fmt.Fprintf(&b, "kill -9: %d rounds, %d writes acknowledged, %d found after restart\n", r.Kill9Rounds, r.Acked, r.Found)
	}
	return b.String()
}

// hostileStrings are values put into every string field and path segment.
var hostileStrings = []string{
	"", " ", "\u202eevil", "a\r\nInjected: header", "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd",
	"%00", "\x00nul", "\xff\xfe not utf-8", strings.Repeat("A", 10_000), "😀", "${jndi:ldap://x}", "-1", "1e308",
}

// hostileBodies are raw request bodies.
func hostileBodies() [][]byte {
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	bodies := [][]byte{nil, []byte("{"), []byte("[]"), []byte("null"), []byte(`"str"`), []byte("12"), []byte(deep),
		bytes.Repeat([]byte("x"), 2<<20), []byte(`{"unknown_field":1}`), []byte("\xff\xfe")}
	for _, s := range hostileStrings {
		v, _ := json.Marshal(s)
		for _, field := range []string{"token", "public_key", "hostname", "name", "key", "type", "default", "agent_version", "os", "tags", "endpoints", "cpu_percent", "state", "pinned_version", "text", "src", "dst", "routes", "exit_node", "owner", "admins", "admin_groups", "allow", "action", "names", "context", "team"} {
			bodies = append(bodies, []byte(`{"`+field+`":`+string(v)+`}`))
		}
	}
	// Keys given twice or in another case (encoding/json keeps the last
	// and folds case): refused with duplicate_field or unknown_field.
	for _, field := range []string{"token", "name", "tags", "text", "key", "src"} {
		bodies = append(bodies, []byte(`{"`+field+`":"a","`+field+`":"b"}`), []byte(`{"`+strings.ToUpper(field)+`":"a"}`))
	}
	// Routes a machine may not advertise, and too many of them.
	many := make([]string, 300)
	for i := range many {
		many[i] = fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)
	}
	manyJSON, _ := json.Marshal(many)
	for _, rs := range []string{`["10.20.0.1/16"]`, `["224.0.0.0/4"]`, `["169.254.0.0/16"]`, `["0.0.0.0/0"]`, `["100.64.0.0/10"]`,
		`["10.0.0.0/8","10.20.0.0/16"]`, `["fe80::/64"]`, `["::ffff:10.0.0.0/104"]`, `["10.0.0.0/8%eth0"]`, `[1]`, string(manyJSON)} {
		bodies = append(bodies, []byte(`{"routes":`+rs+`}`))
	}
	// SCIM: users, groups and patches with hostile names, filters and
	// members (the library validates the schema; our side the values).
	for _, s := range hostileStrings {
		v, _ := json.Marshal(s)
		bodies = append(bodies,
			[]byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":`+string(v)+`,"displayName":`+string(v)+`,"active":false}`),
			[]byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":`+string(v)+`,"members":[{"value":`+string(v)+`}]}`),
			[]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq `+string(v)+`]"}]}`),
			[]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":`+string(v)+`,"value":`+string(v)+`}]}`),
			[]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","value":{"active":`+string(v)+`,"userName":`+string(v)+`}}]}`),
			[]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":`+string(v)+`}`))
	}
	// Flag usage an agent reports, OFREP contexts, client settings.
	for _, s := range hostileStrings {
		v, _ := json.Marshal(s)
		bodies = append(bodies,
			[]byte(`{"flag_usage":{`+string(v)+`:1}}`),
			[]byte(`{"context":{"targetingKey":`+string(v)+`,"tags":[`+string(v)+`]}}`),
			[]byte(`{"name":"c1","team":`+string(v)+`,"allow":[`+string(v)+`],"rate_per_minute":-1}`),
			[]byte(`{"names":[`+string(v)+`],"action":`+string(v)+`}`))
	}
	// Facts a `policy test` takes the source to have; facts in a report.
	for _, s := range hostileStrings {
		v, _ := json.Marshal("os.version=" + s)
		k, _ := json.Marshal(s + "=1")
		bodies = append(bodies, []byte(`{"src":"tag:a","dst":"tag:a:1","src_facts":[`+string(v)+`,`+string(k)+`]}`),
			[]byte(`{"facts":{"os":{"version":`+string(v)+`},"disks":[{"mount":`+string(v)+`}]}}`))
	}
	bodies = append(bodies, []byte(`{"src":"tag:a","dst":"tag:a:1","src_facts":`+string(manyJSON)+`}`))
	// Flow records: someone else's, malformed, and too many.
	for _, s := range hostileStrings {
		v, _ := json.Marshal(s)
		bodies = append(bodies, []byte(`{"records":[{"start":"2026-12-06T00:00:00Z","end":"2026-12-06T00:00:01Z","proto":"tcp","src":`+string(v)+
			`,"dst":"100.64.0.1","verdict":"allowed","rule":`+string(v)+`}],"dropped":1}`))
	}
	bodies = append(bodies, []byte(`{"records":[{"start":"2026-12-06T00:00:00Z","end":"2026-12-06T00:00:01Z","proto":"tcp","src":"100.64.250.1","dst":"100.64.250.2","verdict":"allowed"}]}`),
		[]byte(`{"records":[`+strings.TrimSuffix(strings.Repeat(`{},`, 10001), ",")+`]}`))
	for _, n := range []string{"-1", "1e23", "-1e23", "9223372036854775808", "0.5"} {
		bodies = append(bodies, []byte(`{"cpu_percent":`+n+`,"mem_used":`+n+`,"listen_port":`+n+`,"max_uses":`+n+`,"rollout":`+n+`}`))
	}
	return bodies
}

// route is one API route: its method, a path with {} for a parameter, and
// the credential it takes.
type route struct {
	method, path, auth string // auth: none, machine, admin
}

var routes = []route{
	{"GET", wire.PathOpenAPI, "none"},
	{"POST", wire.PathEnroll, "none"},
	{"POST", wire.PathEnrollInteractive, "none"},
	{"GET", wire.PathEnrollWait + "?wait={}", "none"},
	{"GET", wire.PathEnrollments, "admin"},
	{"POST", wire.PathEnrollments + "/{}/{}", "admin"},
	{"GET", wire.PathNetmap + "?since={}&wait=0", "machine"},
	{"POST", wire.PathEndpoints, "machine"},
	{"POST", wire.PathRekey, "machine"},
	{"POST", wire.PathReauth, "machine"},
	{"POST", wire.PathCredential, "machine"},
	{"POST", wire.PathHealth, "machine"},
	{"POST", wire.PathAgentFlows, "machine"},
	{"POST", wire.PathAgentSSHCheck, "machine"},
	{"GET", wire.PathAgentSSHConsole + "?wait={}", "machine"},
	{"GET", wire.PathAgentSSHConsole + "/{}", "machine"},
	{"POST", wire.PathAgentSSHSessions, "machine"},
	{"POST", wire.PathAgentSSHRecording + "/{}?offset={}", "machine"},
	{"GET", wire.PathAgentFlags + "?wait={}", "machine"},
	{"GET", wire.PathServer, "admin"},
	{"GET", wire.PathSecrets, "admin"},
	{"POST", wire.PathSecrets + "/seal", "admin"},
	{"POST", wire.PathSecrets + "/rotate", "admin"},
	{"POST", wire.PathTokens, "admin"},
	{"DELETE", wire.PathTokens + "/{}", "admin"},
	{"GET", wire.PathMachines + "?name={}&state={}", "admin"},
	{"GET", wire.PathMachines + "?fact={}&format={}", "admin"},
	{"GET", wire.PathMachines + "/{}", "admin"},
	{"PATCH", wire.PathMachines + "/{}", "admin"},
	{"POST", wire.PathMachines + "/{}/revoke", "admin"},
	{"POST", wire.PathMachines + "/{}/rotate-key", "admin"},
	{"GET", wire.PathMachines + "/{}/health?limit={}", "admin"},
	{"GET", wire.PathAudit + "?action={}&limit={}&before={}", "admin"},
	{"PUT", wire.PathFlags + "/{}", "admin"},
	{"GET", wire.PathFlags + "/{}", "admin"},
	{"DELETE", wire.PathFlags + "/{}", "admin"},
	{"GET", wire.PathPolicy, "admin"},
	{"PUT", wire.PathPolicy, "admin"},
	{"POST", wire.PathPolicyQuery, "admin"},
	{"GET", wire.PathDNSRecords, "admin"},
	{"POST", wire.PathDNSRecords, "admin"},
	{"DELETE", wire.PathDNSRecords + "/{}?type={}&value={}", "admin"},
	{"PUT", wire.PathReleases + "/files/{}", "admin"},
	{"PUT", wire.PathReleases + "/channels/{}", "admin"},
	{"POST", wire.PathReleases + "/channels/{}/{}", "admin"},
	{"POST", wire.PathAPIKeys, "admin"},
	{"POST", wire.PathAdmins, "admin"},
	{"POST", wire.PathAdmins + "/{}/password", "admin"},
	{"GET", wire.PathRelay, "machine"},
	{"GET", wire.PathRelayMesh, "none"},
	{"POST", wire.PathAgentRoutes, "machine"},
	{"POST", wire.PathAgentPeerRelay, "machine"},
	{"GET", wire.PathRoutes, "admin"},
	{"GET", wire.PathFlows + "?machine={}&addr={}&port={}&verdict={}&since={}&cursor={}&limit={}", "admin"},
	{"GET", wire.PathSSHSessions + "?machine={}&limit={}", "admin"},
	{"GET", wire.PathSSHSessions + "/{}/recording", "admin"},
	{"GET", wire.PathSSHChecks + "/{}", "admin"},
	{"POST", wire.PathSSHChecks + "/{}/confirm", "admin"},
	{"POST", wire.PathRoutes + "/{}/{}", "admin"},
	{"GET", "/debug/pprof/{}", "admin"},
	{"GET", wire.PathDirectory, "admin"},
	{"GET", wire.PathTeams, "admin"},
	{"POST", wire.PathFlagClients, "admin"},
	{"GET", wire.PathFlagClients, "admin"},
	{"POST", wire.PathFlagClientsBulk, "admin"},
	{"PATCH", wire.PathFlagClients + "/{}", "admin"},
	{"POST", wire.PathFlagClients + "/{}/keys", "admin"},
	{"DELETE", wire.PathFlagClients + "/{}/keys/{}", "admin"},
	{"DELETE", wire.PathFlagClients + "/{}", "admin"},
	{"GET", wire.PathFlags + "/{}/usage", "admin"},
	{"POST", "/ofrep/v1/evaluate/flags", "client"},
	{"POST", "/ofrep/v1/evaluate/flags/{}", "client"},
	{"PUT", wire.PathTeams + "/{}", "admin"},
	{"DELETE", wire.PathTeams + "/{}", "admin"},
	{"POST", wire.PathSCIMTokens, "admin"},
	{"DELETE", wire.PathSCIMTokens + "/{}", "admin"},
	{"POST", wire.PathSCIM + "/Users", "scim"},
	{"GET", wire.PathSCIM + "/Users?filter={}&startIndex={}&count={}", "scim"},
	{"POST", wire.PathSCIM + "/Users/.search", "scim"},
	{"GET", wire.PathSCIM + "/Users/{}", "scim"},
	{"PUT", wire.PathSCIM + "/Users/{}", "scim"},
	{"PATCH", wire.PathSCIM + "/Users/{}", "scim"},
	{"DELETE", wire.PathSCIM + "/Users/{}", "scim"},
	{"POST", wire.PathSCIM + "/Groups", "scim"},
	{"GET", wire.PathSCIM + "/Groups?filter={}", "scim"},
	{"PUT", wire.PathSCIM + "/Groups/{}", "scim"},
	{"PATCH", wire.PathSCIM + "/Groups/{}", "scim"},
	{"DELETE", wire.PathSCIM + "/Groups/{}", "scim"},
	{"GET", wire.PathSCIM + "/{}", "scim"},
	{"GET", wire.PathSCIM + "/Schemas/{}", "scim"},
}

// coded reports whether an error answer carries its protocol's stable
// code: OFREP's errorCode for flag clients, RFC 7644's error schema and
// status for SCIM, wire's {"error":{"code":…}} for everything else.
func coded(auth string, status int, resp []byte) bool {
	switch auth {
	case "client":
		var er struct {
			Code string `json:"errorCode"`
		}
		return json.Unmarshal(resp, &er) == nil && er.Code != ""
	case "scim":
		var er struct {
			Schemas []string `json:"schemas"`
			Status  string   `json:"status"`
		}
		return json.Unmarshal(resp, &er) == nil && slices.Contains(er.Schemas, "urn:ietf:params:scim:api:messages:2.0:Error") && er.Status == strconv.Itoa(status)
	}
	var er wire.ErrorResponse
	return json.Unmarshal(resp, &er) == nil && er.Error != nil && er.Error.Code != ""
}

// Sweep sends up to n hostile requests over every route with every kind
// of credential, then races single-use-token enrollments, into rep.
func Sweep(ctx context.Context, server, pin, apiKey string, n, race int, rep *Report) error {
	var opts []client.Option
	if pin != "" {
		opts = append(opts, client.WithPin(pin))
	}
	admin, err := client.New(server, append(opts, client.WithToken(apiKey))...)
	if err != nil {
		return err
	}
	tok, err := admin.CreateToken(ctx, wire.CreateTokenRequest{Reusable: true, ExpiresIn: "1h", Tags: []string{"hostile"}})
	if err != nil {
		return fmt.Errorf("create a token (is -api-key right?): %w", err)
	}
	anon, _ := client.New(server, opts...)
	enr, err := anon.Enroll(ctx, wire.EnrollRequest{Token: tok.Secret, PublicKey: pubkey(), Hostname: "hostile-sweep", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		return fmt.Errorf("enroll the sweep's machine: %w", err)
	}
	st, err := admin.CreateSCIMToken(ctx)
	if err != nil {
		return fmt.Errorf("create a SCIM token: %w", err)
	}
	fc, err := admin.CreateFlagClient(ctx, wire.CreateFlagClientRequest{Name: fmt.Sprintf("hostile-%d", time.Now().UnixNano()%1e9), RatePerMinute: 1_000_000})
	if err != nil {
		return fmt.Errorf("create a flag client: %w", err)
	}
	hc := admin.HTTPClient()
	creds := map[string][]string{
		"scim":    {st.Secret, "", "wfs_forged0000000000000000000000000000000000000", apiKey},
		"client":  {fc.Secret, "", "wfc_forged0000000000000000000000000000000000000", apiKey},
		"none":    {""},
		"machine": {enr.Credential, "", "wfm_forged0000000000000000000000000000000000000"},
		"admin":   {apiKey, "", "wfa_forged0000000000000000000000000000000000000", enr.Credential},
	}
	if rep.ByStatus == nil {
		rep.ByStatus = map[int]int{}
	}
	bodies := hostileBodies()
	i := 0
	for rep.Requests < n && ctx.Err() == nil {
		progress := false
		for _, rt := range routes {
			for _, cred := range creds[rt.auth] {
				if rep.Requests >= n {
					return sweepThenCheck(ctx, server, apiKey, opts, admin, enr.Credential, race, rep)
				}
				param := hostileStrings[i%len(hostileStrings)]
				path := strings.ReplaceAll(rt.path, "{}", urlEscape(param))
				var body []byte
				if rt.method != "GET" && rt.method != "DELETE" {
					body = bodies[i%len(bodies)]
				}
				i++
				progress = true
				status, resp, err := send(ctx, hc, rt.method, server+path, cred, body)
				rep.Requests++
				if err != nil && strings.Contains(err.Error(), "larger than peer's advertised limit") {
					// Refused before it left: the server's HTTP/2 settings
					// bound header lists, and a client may not exceed them.
					rep.ByStatus[http.StatusRequestHeaderFieldsTooLarge]++
					continue
				}
				if err != nil {
					rep.ServerErrors = append(rep.ServerErrors, fmt.Sprintf("%s %s → %v", rt.method, clip(path), err))
					continue
				}
				rep.ByStatus[status]++
				if status >= 500 {
					rep.ServerErrors = append(rep.ServerErrors, fmt.Sprintf("%s %s → %d %s", rt.method, clip(path), status, clip(string(resp))))
				}
				if status >= 400 && !coded(rt.auth, status, resp) {
					rep.NoCode = append(rep.NoCode, fmt.Sprintf("%s %s → %d %s", rt.method, clip(path), status, clip(string(resp))))
				}
			}
		}
		if !progress {
			break
		}
	}
	return sweepThenCheck(ctx, server, apiKey, opts, admin, enr.Credential, race, rep)
}

// sweepThenCheck is Sweep's tail: the token race, then the checks of the
// defects earlier runs found.
func sweepThenCheck(ctx context.Context, server, apiKey string, opts []client.Option, admin *client.Client, machine string, race int, rep *Report) error {
	if err := race1(ctx, server, opts, admin, race, rep); err != nil {
		return err
	}
	Regressions(ctx, server, apiKey, admin, machine, rep)
	return nil
}

// race1 enrolls race machines at once with one single-use token.
func race1(ctx context.Context, server string, opts []client.Option, admin *client.Client, race int, rep *Report) error {
	if race <= 0 {
		return nil
	}
	tok, err := admin.CreateToken(ctx, wire.CreateTokenRequest{ExpiresIn: "1h"})
	if err != nil {
		return err
	}
	rep.Race, rep.RaceCodes = race, map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k := range race {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _ := client.New(server, opts...)
			<-start
			_, err := c.Enroll(ctx, wire.EnrollRequest{Token: tok.Secret, PublicKey: pubkey(), Hostname: fmt.Sprintf("race-%d", k), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				rep.RaceWinners++
			} else {
				rep.RaceCodes[string(wire.ErrorCode(err))]++
			}
		}()
	}
	close(start)
	wg.Wait()
	return nil
}

func send(ctx context.Context, hc *http.Client, method, url, cred string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

func pubkey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
