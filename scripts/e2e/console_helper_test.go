package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// consoleHelper is a browser at the console's terminal, when the test
// binary runs as it inside a namespace (WF_E2E_CONSOLE=URL|USER|PASSWORD|
// MACHINE|LOGIN|COMMAND): it signs in, opens the terminal's WebSocket,
// types the command and prints what the terminal shows until "END-OF-
// TEST" or the end, then exits.
func consoleHelper() bool {
	spec := os.Getenv("WF_E2E_CONSOLE")
	if spec == "" {
		return false
	}
	if err := runConsole(strings.SplitN(spec, "|", 6)); err != nil {
		fmt.Println("console:", err)
		os.Exit(1)
	}
	return true
}

func runConsole(a []string) error {
	base, user, pw, machine, login, command := a[0], a[1], a[2], a[3], a[4], a[5]
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // the test's own server; the pin is checked elsewhere
	hc := &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second}
	resp, err := hc.Get(base + "/login")
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(page))
	if m == nil {
		return fmt.Errorf("no csrf on the login page")
	}
	resp, err = hc.PostForm(base+"/login", url.Values{"username": {user}, "password": {pw}, "csrf": {m[1]}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(base, "https")+"/machines/"+url.PathEscape(machine)+"/terminal/ws?user="+url.QueryEscape(login)+"&cols=100&rows=30",
		&websocket.DialOptions{HTTPClient: hc, HTTPHeader: http.Header{"Origin": {base}}})
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	in, _ := json.Marshal(map[string]string{"t": "i", "d": command + "\n"})
	if err := ws.Write(ctx, websocket.MessageText, in); err != nil {
		return err
	}
	var out strings.Builder
	for {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			break
		}
		if typ == websocket.MessageText {
			out.WriteString("\n[end] " + string(b))
			break
		}
		out.Write(b)
		if strings.Contains(out.String(), "END-OF-TEST") {
			break
		}
	}
	fmt.Print(out.String())
	return nil
}
