package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// starterPolicy is offered in the editor when no policy is set.
const starterPolicy = `{
  // Tags the rules may name (machines get tags from their enrollment
  // token or the machine page).
  "tags": ["tag:laptop", "tag:server"],
  "rules": [
    // Laptops reach the servers' SSH and HTTPS.
    {"src": ["tag:laptop"], "dst": ["tag:server"], "proto": "tcp", "ports": ["22", "443"]},
  ],
  // Checked before the policy is accepted.
  "tests": [
    {"src": "tag:laptop", "accept": ["tag:server:22"], "deny": ["tag:server:5432"]},
  ],
}
`

// sourceLine is one line of the submitted policy, with the problems found
// on it, for showing errors in place.
type sourceLine struct {
	N        int
	Text     string
	Problems []wire.Problem
}

type policyView struct {
	Current  wire.Policy
	Text     string // in the editor
	Problems []wire.Problem
	Lines    []sourceLine // the text with problems in place (only when there are problems)
	Tests    []wire.PolicyTestResult
	Checked  bool // the text was checked and is valid (not saved)
}

func (w *Web) policyPage(rw http.ResponseWriter, r *http.Request, s store.Session) {
	cur, err := w.fl.Policy(r.Context())
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	v := policyView{Current: cur, Text: cur.Text, Tests: cur.Tests}
	if v.Text == "" {
		v.Text = starterPolicy
	}
	w.renderPolicy(rw, r, s, http.StatusOK, v, w.message(rw, r, "f"), "")
}

func (w *Web) renderPolicy(rw http.ResponseWriter, r *http.Request, s store.Session, status int, v policyView, flash, errMsg string) {
	w.render(rw, r, "policy", status, page{Title: "Access policy", Nav: "policy", Admin: s.Admin.Name, CSRF: s.CSRF,
		Flash: flash, Error: errMsg, Data: v})
}

func (w *Web) savePolicy(rw http.ResponseWriter, r *http.Request, s store.Session) {
	text := strings.ReplaceAll(r.PostFormValue("text"), "\r\n", "\n")
	action := r.PostFormValue("action")
	if action == "clear" {
		text = ""
	}
	dry := action == "check"
	res, err := w.fl.SetPolicy(r.Context(), w.actor(r, s), text, dry)
	cur, _ := w.fl.Policy(r.Context())
	if err != nil {
		var we *wire.Error
		if !errors.As(err, &we) || we.Code == wire.CodeInternal {
			w.internal(rw, r, err)
			return
		}
		v := policyView{Current: cur, Text: text, Problems: we.Problems, Lines: linesWith(text, we.Problems)}
		msg := we.Message
		if len(we.Problems) > 0 {
			msg = "The policy has problems, shown below where they are; nothing was changed."
		}
		w.renderPolicy(rw, r, s, http.StatusBadRequest, v, "", msg)
		return
	}
	switch {
	case dry:
		v := policyView{Current: cur, Text: text, Tests: res.Tests, Checked: true}
		w.renderPolicy(rw, r, s, http.StatusOK, v, "The policy is valid and its tests pass. It is not saved yet.", "")
	case text == "":
		w.redirect(rw, r, "/policy", "Access policy removed: every machine reaches every machine.", "")
	case !res.Applied:
		w.redirect(rw, r, "/policy", "Unchanged: this is the policy in force.", "")
	default:
		w.redirect(rw, r, "/policy", "Policy version "+strconv.FormatInt(res.Version, 10)+" in force; every agent has its new peers and rules.", "")
	}
}

// linesWith splits text into numbered lines carrying their problems.
func linesWith(text string, ps []wire.Problem) []sourceLine {
	if len(ps) == 0 {
		return nil
	}
	lines := strings.Split(text, "\n")
	out := make([]sourceLine, len(lines))
	for i, l := range lines {
		out[i] = sourceLine{N: i + 1, Text: l}
	}
	var general []wire.Problem
	for _, p := range ps {
		if p.Line >= 1 && p.Line <= len(out) {
			out[p.Line-1].Problems = append(out[p.Line-1].Problems, p)
		} else {
			general = append(general, p)
		}
	}
	if len(general) > 0 {
		out = append(out, sourceLine{Problems: general})
	}
	return out
}

// reachView is "who can reach this machine" on the machine page.
type reachView struct {
	Policy  int64
	Rules   []string // the rules this machine enforces
	Sources []reachSource
	// Postures: each of the policy's postures, whether this machine has
	// it, and if not why (its peers' srcPosture rules depend on it).
	Postures []policy.PostureResult
}

type reachSource struct {
	ID, Name string
	Rules    []string
}

// reach computes who may open connections to m under the policy in force
// (nil: no policy).
func (w *Web) reach(r *http.Request, m wire.Machine) (*reachView, error) {
	p, sp, err := w.fl.PolicyInForce(r.Context())
	if err != nil || p == nil {
		return nil, err
	}
	ms, err := w.db.ListMachines(r.Context(), store.MachineFilter{State: wire.MachineActive})
	if err != nil {
		return nil, err
	}
	me := policy.MachineOf(m)
	v := &reachView{Policy: sp.Version, Rules: []string{}}
	for _, x := range ms {
		if x.ID == m.ID {
			continue
		}
		idx := p.RulesBetween(policy.MachineOf(x), me)
		if len(idx) == 0 {
			continue
		}
		src := reachSource{ID: x.ID, Name: x.Name}
		for _, i := range idx {
			src.Rules = append(src.Rules, p.RuleText(i))
		}
		v.Sources = append(v.Sources, src)
	}
	for _, fr := range p.Inbound(p.ClassOf(me)) {
		v.Rules = append(v.Rules, policy.Describe(fr))
	}
	v.Postures = p.Postures(me)
	return v, nil
}
