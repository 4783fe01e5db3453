// Command testtime turns `go test -json` into the output `go test`
// prints without -v — each package's ok/FAIL line, and the whole output
// of every failing test — and ends with the slowest tests, so that a
// run's time can be seen where it goes:
//
//	go test -json ./... | go run ./scripts/testtime -top 10
//
// It exits 1 when a test or a package failed (a pipeline's status is its
// last command's, unless the shell has pipefail).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output events
	Test       string
	Elapsed    float64
	Output     string
}

// timing is one finished top-level test.
type timing struct {
	pkg, test string
	elapsed   time.Duration
}

// report reads events from r, writes the plain output to w and returns
// the top slowest top-level tests and whether anything failed.
func report(r io.Reader, w io.Writer, top int) ([]timing, bool, error) {
	buf := map[string][]string{} // package + test → its output so far
	var times []timing
	failed := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			fmt.Fprintf(w, "%s\n", line) // not an event (a build error printed as text): pass it on
			continue
		}
		top, _, sub := strings.Cut(e.Test, "/")
		key := e.Package + "\x00" + top // a subtest's output goes with its test's
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "build-fail":
			failed = true
		case e.Test == "" && e.Action == "output":
			if s := strings.TrimSpace(e.Output); s == "PASS" || s == "FAIL" || strings.HasPrefix(s, "=== ") || strings.HasPrefix(s, "--- PASS") || strings.HasPrefix(s, "--- SKIP") {
				continue
			}
			fmt.Fprint(w, e.Output)
		case e.Test == "":
			failed = failed || e.Action == "fail"
		case e.Action == "output":
			if !strings.HasPrefix(e.Output, "=== ") { // RUN, PAUSE, CONT: go test prints them only with -v
				buf[key] = append(buf[key], e.Output)
			}
		case sub:
			// A subtest ends: its output stays with its test's.
			failed = failed || e.Action == "fail"
		case e.Action == "pass", e.Action == "skip", e.Action == "fail":
			if e.Action == "fail" {
				failed = true
				fmt.Fprint(w, strings.Join(buf[key], ""))
			}
			times = append(times, timing{e.Package, e.Test, time.Duration(e.Elapsed * float64(time.Second))})
			delete(buf, key)
		}
	}
	slices.SortFunc(times, func(a, b timing) int { return int(b.elapsed - a.elapsed) })
	return times[:min(top, len(times))], failed, sc.Err()
}

func main() {
	top := flag.Int("top", 10, "how many of the slowest tests to list")
	flag.Parse()
	slow, failed, err := report(os.Stdin, os.Stdout, *top)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testtime:", err)
		os.Exit(2)
	}
	if len(slow) > 0 {
		fmt.Printf("\nthe %d slowest tests:\n", len(slow))
		for _, t := range slow {
			fmt.Printf("  %8s  %s %s\n", t.elapsed.Round(100*time.Millisecond), strings.TrimPrefix(t.pkg, "github.com/wirefleet/wirefleet/"), t.test)
		}
	}
	if failed {
		os.Exit(1)
	}
}
