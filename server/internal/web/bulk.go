package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// bulkActions are what the machines table does to several machines at
// once, with the words the confirmation and the outcome use.
var bulkActions = map[string]struct{ verb, done, warn string }{
	"revoke": {"Revoke", "revoked", "Their credentials stop working at once and they leave every peer's map. This cannot be undone."},
	"delete": {"Delete", "deleted", "They are removed from the list; a revoked machine's record goes with them. Active machines are revoked first."},
	"tag":    {"Tag", "tagged", "Access rules that name the tag apply to them at once."},
	"untag":  {"Remove the tag from", "untagged", "Access rules that name the tag stop applying to them at once."},
}

// bulkConfirm is the confirmation page of a bulk action.
type bulkConfirm struct {
	Action, Verb, Warn, Tag, Back string
	IDs                           []string
	Names                         []string // the first few, for the page
	More                          int
}

// maxBulk caps one bulk action (the largest page of the table).
const maxBulk = maxPerPage

// bulk applies an action to the machines selected in the table. The
// first POST shows a confirmation naming the count (and the first
// names); the confirmed one acts and goes back to the table.
func (w *Web) bulk(rw http.ResponseWriter, r *http.Request, s store.Session) {
	back := safeNext(r.PostFormValue("back"))
	if back == "" || !strings.HasPrefix(back, "/machines") {
		back = "/machines"
	}
	action := r.PostFormValue("action")
	act, ok := bulkActions[action]
	if !ok {
		w.redirect(rw, r, back, "", "Choose what to do with the selected machines.")
		return
	}
	ids := slices.Compact(slices.Sorted(slices.Values(r.PostForm["id"])))
	if len(ids) == 0 {
		w.redirect(rw, r, back, "", "Select at least one machine (the boxes in the first column).")
		return
	}
	if len(ids) > maxBulk {
		w.redirect(rw, r, back, "", fmt.Sprintf("At most %d machines at once.", maxBulk))
		return
	}
	tag := strings.ToLower(strings.TrimSpace(r.PostFormValue("tag")))
	if action == "tag" || action == "untag" {
		if err := wire.ValidateTag(tag); err != nil {
			msg := err.Error()
			var we *wire.Error
			if errors.As(err, &we) {
				msg = we.Message
			}
			w.redirect(rw, r, back, "", "Tag: "+msg)
			return
		}
	}
	ms := make([]wire.Machine, 0, len(ids))
	for _, id := range ids {
		m, err := w.db.Machine(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			w.internal(rw, r, err)
			return
		}
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b wire.Machine) int { return strings.Compare(a.Name, b.Name) })
	if r.PostFormValue("confirm") != "yes" {
		c := bulkConfirm{Action: action, Verb: act.verb, Warn: act.warn, Tag: tag, Back: back}
		for _, m := range ms {
			c.IDs = append(c.IDs, m.ID)
			if len(c.Names) < 20 {
				c.Names = append(c.Names, m.Name)
			}
		}
		c.More = len(ms) - len(c.Names)
		w.render(rw, r, "bulk", http.StatusOK, page{Title: act.verb + " machines", Nav: "machines", Admin: s.Admin.Name, CSRF: s.CSRF, Data: c})
		return
	}
	a := w.actor(r, s)
	var done int
	var failed []string
	for _, m := range ms {
		var err error
		switch action {
		case "revoke":
			if m.State == wire.MachineRevoked {
				continue
			}
			_, err = w.fl.RevokeMachine(r.Context(), a, m.ID)
		case "delete":
			_, err = w.fl.DeleteMachine(r.Context(), a, m.ID)
		case "tag", "untag":
			tags := slices.DeleteFunc(slices.Clone(m.Tags), func(t string) bool { return t == tag })
			if action == "tag" {
				tags = append(tags, tag)
			}
			if slices.Equal(tags, m.Tags) {
				continue
			}
			_, err = w.fl.UpdateMachine(r.Context(), a, m.ID, fleet.MachineUpdate{Tags: &tags})
		}
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || we.Code == wire.CodeInternal {
				w.internal(rw, r, err)
				return
			}
			failed = append(failed, m.Name+": "+we.Message)
			continue
		}
		done++
	}
	msg := fmt.Sprintf("%d machine(s) %s.", done, act.done)
	if action == "tag" || action == "untag" {
		msg = fmt.Sprintf("%d machine(s) %s %q.", done, act.done, tag)
	}
	if skipped := len(ms) - done - len(failed); skipped > 0 {
		msg += fmt.Sprintf(" %d already were.", skipped)
	}
	errMsg := ""
	if len(failed) > 0 {
		errMsg = fmt.Sprintf("%d could not be: %s", len(failed), strings.Join(failed[:min(len(failed), 5)], "; "))
	}
	w.redirect(rw, r, back, msg, errMsg)
}
