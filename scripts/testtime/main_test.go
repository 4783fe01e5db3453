package main

import (
	"strings"
	"testing"
)

// A run with a passing, a failing and a skipped test prints what plain
// `go test` prints — the failing test's output, each package's line — and
// lists the tests slowest first.
func TestReport(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"start","Package":"p/a"}`,
		`{"Action":"run","Package":"p/a","Test":"TestFast"}`,
		`{"Action":"output","Package":"p/a","Test":"TestFast","Output":"=== RUN   TestFast\n"}`,
		`{"Action":"output","Package":"p/a","Test":"TestFast","Output":"    a_test.go:9: a log line nobody needs\n"}`,
		`{"Action":"pass","Package":"p/a","Test":"TestFast","Elapsed":0.5}`,
		`{"Action":"run","Package":"p/a","Test":"TestBroken"}`,
		`{"Action":"output","Package":"p/a","Test":"TestBroken/case","Output":"    a_test.go:20: got 1, want 2\n"}`,
		`{"Action":"fail","Package":"p/a","Test":"TestBroken/case","Elapsed":2}`,
		`{"Action":"output","Package":"p/a","Test":"TestBroken","Output":"--- FAIL: TestBroken (3.00s)\n"}`,
		`{"Action":"fail","Package":"p/a","Test":"TestBroken","Elapsed":3}`,
		`{"Action":"output","Package":"p/a","Output":"FAIL\n"}`,
		`{"Action":"output","Package":"p/a","Output":"FAIL\tp/a\t3.6s\n"}`,
		`{"Action":"fail","Package":"p/a","Elapsed":3.6}`,
		`{"Action":"output","Package":"p/b","Test":"TestSlow","Output":"=== RUN   TestSlow\n"}`,
		`{"Action":"pass","Package":"p/b","Test":"TestSlow","Elapsed":12.25}`,
		`{"Action":"skip","Package":"p/b","Test":"TestSkipped","Elapsed":0}`,
		`{"Action":"output","Package":"p/b","Output":"PASS\n"}`,
		`{"Action":"output","Package":"p/b","Output":"ok  \tp/b\t12.3s\n"}`,
		`{"Action":"pass","Package":"p/b","Elapsed":12.3}`,
	}, "\n")
	var out strings.Builder
	slow, failed, err := report(strings.NewReader(in), &out, 2)
	if err != nil || !failed {
		t.Fatalf("failed=%v err=%v", failed, err)
	}
	got := out.String()
	want := "    a_test.go:20: got 1, want 2\n--- FAIL: TestBroken (3.00s)\nFAIL\tp/a\t3.6s\nok  \tp/b\t12.3s\n"
	if got != want {
		t.Errorf("output:\n%q\nwant\n%q", got, want)
	}
	if len(slow) != 2 || slow[0].test != "TestSlow" || slow[1].test != "TestBroken" {
		t.Errorf("slowest: %+v", slow)
	}
}
