package web

import (
	"net/http"
	"net/url"
)

// messageCookie carries the message of a redirect (what a change did, or
// why it was refused) to the page after it, once. A cookie this server
// sets, rather than the URL: a link cannot put words in the page's own
// notice boxes.
const messageCookie = "wf_msg"

// redirect sends the browser to path with a one-time notice (flash) or
// error (errMsg) for the page there.
func (w *Web) redirect(rw http.ResponseWriter, r *http.Request, path, flash, errMsg string) {
	v := url.Values{}
	if flash != "" {
		v.Set("f", clip(flash, 1000))
	}
	if errMsg != "" {
		v.Set("e", clip(errMsg, 1000))
	}
	if len(v) > 0 {
		http.SetCookie(rw, &http.Cookie{Name: messageCookie, Value: url.QueryEscape(v.Encode()), Path: "/", HttpOnly: true,
			Secure: w.cfg.Secure, SameSite: http.SameSiteStrictMode, MaxAge: 60})
	}
	http.Redirect(rw, r, path, http.StatusSeeOther)
}

// message returns the notice ("f") or error ("e") a redirect left for this
// page, and clears it so a reload does not show it again.
func (w *Web) message(rw http.ResponseWriter, r *http.Request, kind string) string {
	c, err := r.Cookie(messageCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(rw, &http.Cookie{Name: messageCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: w.cfg.Secure, SameSite: http.SameSiteStrictMode})
	raw, err := url.QueryUnescape(c.Value)
	if err != nil {
		return ""
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return ""
	}
	return v.Get(kind)
}
