package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	ofrepprovider "github.com/open-feature/go-sdk-contrib/providers/ofrep"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// openFeature returns an OpenFeature client evaluating on the server
// through the OFREP provider with a client key.
func openFeature(t *testing.T, e *env, key, domain string) *openfeature.Client {
	t.Helper()
	p := ofrepprovider.NewProvider(e.url, ofrepprovider.WithBearerToken(key))
	if err := openfeature.SetNamedProviderAndWait(domain, p); err != nil {
		t.Fatal(err)
	}
	return openfeature.NewClient(domain)
}

// TestOFREPForClients: an application reads flags from the server with
// the OpenFeature Go SDK's OFREP provider and a client key — every type,
// targeting by its context, the fleet's flags and its team's only
// (another team's is FLAG_NOT_FOUND); an inactive client is refused (401),
// one over its rate told to wait (429, Retry-After), one from outside its
// allow-list refused (403); a rotated key works beside the old until
// that is revoked; every evaluation is counted per flag and client.
func TestOFREPForClients(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	for _, team := range []string{"payments", "search"} {
		if _, err := e.admin.PutTeam(ctx, team, wire.PutTeamRequest{Tags: []string{team}}); err != nil {
			t.Fatal(err)
		}
	}
	pct := 50.0
	for _, f := range []wire.Flag{
		{Key: "new-checkout", Type: "boolean", Enabled: true, Default: []byte("false"), Team: "payments",
			Rules: []wire.FlagRule{{Tags: []string{"env:prod"}, Value: []byte("true")}}},
		{Key: "banner", Type: "string", Enabled: true, Default: []byte(`"plain"`), Rules: []wire.FlagRule{{OS: []string{"ios"}, Value: []byte(`"ios"`)}}},
		{Key: "batch-size", Type: "number", Enabled: true, Default: []byte("100"), Rules: []wire.FlagRule{{Percentage: &pct, Value: []byte("250")}}},
		{Key: "limits", Type: "object", Enabled: true, Default: []byte(`{"rps":10}`)},
		{Key: "search-rerank", Type: "boolean", Enabled: true, Default: []byte("true"), Team: "search"},
	} {
		if _, err := e.admin.SetFlag(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	pay, err := e.admin.CreateFlagClient(ctx, wire.CreateFlagClientRequest{Name: "checkout-api", Kind: "backend", Team: "payments", RatePerMinute: 600})
	if err != nil {
		t.Fatal(err)
	}
	of := openFeature(t, e, pay.Secret, "checkout")
	prod := openfeature.NewEvaluationContext("order-1", map[string]any{"tags": []any{"env:prod"}})
	dev := openfeature.NewEvaluationContext("order-1", map[string]any{"tags": []any{"env:dev"}, "os": "ios"})

	t.Run("types and targeting", func(t *testing.T) {
		if v, err := of.BooleanValue(ctx, "new-checkout", false, prod); err != nil || !v {
			t.Errorf("new-checkout in prod: %v %v", v, err)
		}
		if v, err := of.BooleanValue(ctx, "new-checkout", true, dev); err != nil || v {
			t.Errorf("new-checkout in dev: %v %v", v, err)
		}
		if v, err := of.StringValue(ctx, "banner", "", dev); err != nil || v != "ios" {
			t.Errorf("banner on ios: %q %v", v, err)
		}
		if v, err := of.StringValue(ctx, "banner", "", prod); err != nil || v != "plain" {
			t.Errorf("banner elsewhere: %q %v", v, err)
		}
		// The percentage splits targeting keys, each always the same way.
		seen := map[int64]int{}
		for i := range 200 {
			ec := openfeature.NewEvaluationContext("user-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)), nil)
			v, err := of.IntValue(ctx, "batch-size", 0, ec)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := of.IntValue(ctx, "batch-size", 0, ec)
			if again != v {
				t.Fatalf("a targeting key moved bucket: %d then %d", v, again)
			}
			seen[v]++
		}
		if seen[250] < 60 || seen[100] < 60 {
			t.Errorf("a 50%% rollout over 200 keys: %v", seen)
		}
		if v, err := of.ObjectValue(ctx, "limits", nil, prod); err != nil || v.(map[string]any)["rps"] != float64(10) {
			t.Errorf("limits: %v %v", v, err)
		}
	})
	t.Run("another team's flag does not exist for it", func(t *testing.T) {
		d, err := of.BooleanValueDetails(ctx, "search-rerank", false, prod)
		if err == nil || d.ErrorCode != openfeature.FlagNotFoundCode {
			t.Errorf("search-rerank for payments' client: %+v %v", d, err)
		}
		resp := post(t, e.url+"/ofrep/v1/evaluate/flags", pay.Secret, `{"context":{"targetingKey":"x"}}`)
		if resp.StatusCode != http.StatusOK || strings.Contains(resp.body, "search-rerank") || !strings.Contains(resp.body, "new-checkout") {
			t.Errorf("bulk for payments: %d %s", resp.StatusCode, resp.body)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		if r := post(t, e.url+"/ofrep/v1/evaluate/flags/banner", "wfc_nope", `{}`); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("a malformed key: %d", r.StatusCode)
		}
		if r := post(t, e.url+"/ofrep/v1/evaluate/flags/banner", e.key, `{}`); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("an admin key: %d", r.StatusCode)
		}
		off := false
		if _, err := e.admin.UpdateFlagClient(ctx, "checkout-api", wire.UpdateFlagClientRequest{Active: &off}); err != nil {
			t.Fatal(err)
		}
		if r := post(t, e.url+"/ofrep/v1/evaluate/flags/banner", pay.Secret, `{}`); r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "inactive") {
			t.Errorf("an inactive client: %d %s", r.StatusCode, r.body)
		}
		on := true
		allow := []string{"203.0.113.0/24"}
		if _, err := e.admin.UpdateFlagClient(ctx, "checkout-api", wire.UpdateFlagClientRequest{Active: &on, Allow: &allow}); err != nil {
			t.Fatal(err)
		}
		if r := post(t, e.url+"/ofrep/v1/evaluate/flags/banner", pay.Secret, `{}`); r.StatusCode != http.StatusForbidden {
			t.Errorf("from outside the allow-list: %d %s", r.StatusCode, r.body)
		}
		allow = []string{"127.0.0.0/8", "::1"}
		if _, err := e.admin.UpdateFlagClient(ctx, "checkout-api", wire.UpdateFlagClientRequest{Allow: &allow}); err != nil {
			t.Fatal(err)
		}
		if r := post(t, e.url+"/ofrep/v1/evaluate/flags/banner", pay.Secret, `{}`); r.StatusCode != http.StatusOK {
			t.Errorf("from inside the allow-list: %d %s", r.StatusCode, r.body)
		}
	})
	t.Run("rate", func(t *testing.T) {
		slow, err := e.admin.CreateFlagClient(ctx, wire.CreateFlagClientRequest{Name: "cron-job", Kind: "ci", RatePerMinute: 3})
		if err != nil {
			t.Fatal(err)
		}
		var last response
		for range 4 {
			last = post(t, e.url+"/ofrep/v1/evaluate/flags/banner", slow.Secret, `{}`)
		}
		if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
			t.Errorf("the 4th request at 3 a minute: %d, Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
		}
	})
	t.Run("rotation", func(t *testing.T) {
		next, err := e.admin.RotateFlagClientKey(ctx, "checkout-api")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{pay.Secret, next.Secret} {
			if r := post(t, e.url+"/ofrep/v1/evaluate/flags/banner", k, `{}`); r.StatusCode != http.StatusOK {
				t.Errorf("while rotating, a key: %d", r.StatusCode)
			}
		}
		if _, err := e.admin.RevokeFlagClientKey(ctx, "checkout-api", pay.Key.ID); err != nil {
			t.Fatal(err)
		}
		if r := post(t, e.url+"/ofrep/v1/evaluate/flags/banner", pay.Secret, `{}`); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("the revoked key: %d", r.StatusCode)
		}
		if r := post(t, e.url+"/ofrep/v1/evaluate/flags/banner", next.Secret, `{}`); r.StatusCode != http.StatusOK {
			t.Errorf("the new key: %d", r.StatusCode)
		}
	})
	t.Run("usage", func(t *testing.T) {
		// An agent counts its local evaluations and reports them with
		// its health.
		agent, _ := e.agent(t, e.token(t, wire.CreateTokenRequest{}), "laptop-7")
		if _, err := agent.ReportHealth(ctx, wire.HealthReport{At: time.Now(), AgentVersion: "1.0.0", OS: "linux", FlagUsage: map[string]int64{"batch-size": 7}}); err != nil {
			t.Fatal(err)
		}
		if _, err := agent.ReportHealth(ctx, wire.HealthReport{At: time.Now(), AgentVersion: "1.0.0", OS: "linux", FlagUsage: map[string]int64{"Bad Key!": 1}}); code(err) != wire.CodeInvalidArgument {
			t.Errorf("a report with a bad flag key: %v", err)
		}
		if err := e.api.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		u, err := e.admin.FlagUsage(ctx, "batch-size")
		if err != nil {
			t.Fatal(err)
		}
		if len(u.Subjects) != 2 || u.Subjects[0].Subject != "client:checkout-api" || u.Subjects[0].Day != 401 || // 400 single, 1 bulk
			time.Since(u.Subjects[0].LastSeen) > time.Minute || u.Subjects[1].Subject != "machine:laptop-7" || u.Subjects[1].Week != 7 {
			t.Errorf("batch-size's usage: %+v", u)
		}
		cs, err := e.admin.FlagClients(ctx)
		if err != nil || len(cs) != 2 || cs[0].LastSeen == nil {
			t.Errorf("clients: %+v %v", cs, err)
		}
		if u, err := e.admin.FlagUsage(ctx, "search-rerank"); err != nil || len(u.Subjects) != 0 {
			t.Errorf("search-rerank, which no one read: %+v %v", u, err)
		}
	})
}

type response struct {
	*http.Response
	body string
}

func post(t *testing.T, url, key, body string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return response{resp, b.String()}
}
