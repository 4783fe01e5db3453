package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// SSHCheck asks whether the owner of the connecting machine confirmed
// recently (an agent's SSH server, for a "check" rule).
func (c *Client) SSHCheck(ctx context.Context, req wire.SSHCheckRequest) (wire.SSHCheckAnswer, error) {
	var out wire.SSHCheckAnswer
	return out, c.do(ctx, http.MethodPost, wire.PathAgentSSHCheck, req, &out)
}

// SSHSessionEvent reports a session's start, end or refusal.
func (c *Client) SSHSessionEvent(ctx context.Context, ev wire.SSHSessionEvent) error {
	return c.do(ctx, http.MethodPost, wire.PathAgentSSHSessions, ev, nil)
}

// SSHRecord appends data to session id's recording at offset (the bytes
// the server holds already).
func (c *Client) SSHRecord(ctx context.Context, id string, offset int64, data []byte) error {
	u := c.base + wire.PathAgentSSHRecording + "/" + url.PathEscape(id) + "?offset=" + strconv.FormatInt(offset, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-asciicast")
	return c.send(req, nil)
}

// SSHSessions lists the fleet's SSH sessions, newest first.
func (c *Client) SSHSessions(ctx context.Context, machine string, limit int) (wire.SSHSessionList, error) {
	var out wire.SSHSessionList
	q := url.Values{}
	if machine != "" {
		q.Set("machine", machine)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	p := wire.PathSSHSessions
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// SSHRecording writes session id's recording (an asciinema v2 cast) to w.
func (c *Client) SSHRecording(ctx context.Context, id string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+wire.PathSSHSessions+"/"+url.PathEscape(id)+"/recording", nil)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return c.send(req, w)
}

// SSHCheckInfo returns check id, as the person asked sees it.
func (c *Client) SSHCheckInfo(ctx context.Context, id string) (wire.SSHCheck, error) {
	var out wire.SSHCheck
	return out, c.do(ctx, http.MethodGet, wire.PathSSHChecks+"/"+url.PathEscape(id), nil, &out)
}

// ConfirmSSHCheck confirms check id (only its owner can).
func (c *Client) ConfirmSSHCheck(ctx context.Context, id string) (wire.SSHCheck, error) {
	var out wire.SSHCheck
	return out, c.do(ctx, http.MethodPost, wire.PathSSHChecks+"/"+url.PathEscape(id)+"/confirm", nil, &out)
}

// SSHConsoleRequests waits up to wait for console terminals asking this
// machine for a login.
func (c *Client) SSHConsoleRequests(ctx context.Context, wait time.Duration) ([]wire.SSHConsoleRequest, error) {
	var out wire.SSHConsoleRequests
	err := c.do(ctx, http.MethodGet, wire.PathAgentSSHConsole+"?wait="+strconv.Itoa(int(wait/time.Second)), nil, &out)
	return out.Requests, err
}

// DialSSHConsole answers console request id: the WebSocket the server's
// SSH client runs over, as a net.Conn.
func (c *Client) DialSSHConsole(ctx context.Context, id string) (net.Conn, error) {
	hc := c.websocketHTTP()
	h := http.Header{}
	if tok := c.bearer(); tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	u := "ws" + strings.TrimPrefix(c.base, "http") + wire.PathAgentSSHConsole + "/" + url.PathEscape(id)
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 {
			return nil, fmt.Errorf("client: console: %s: %w", resp.Status, err)
		}
		return nil, fmt.Errorf("client: console: %w", err)
	}
	conn.SetReadLimit(1 << 20) // SSH packets (up to 35,000 bytes) travel whole in one message
	return websocket.NetConn(context.Background(), conn, websocket.MessageBinary), nil
}
