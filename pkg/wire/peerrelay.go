package wire

// Peer relays: machines the policy names in "relays" forward WireGuard
// ciphertext over UDP between two other machines that cannot reach each
// other directly (both behind symmetric NATs, say), so their traffic need
// not cross the server.

// PathAgentPeerRelay is where a relay machine asks whether two machines
// may use it between them: POST a PeerRelayCheck; 204 yes, 403 no (the
// policy does not let them reach each other, or one is not in the map),
// 404 when the asking machine is not a relay.
const PathAgentPeerRelay = "/api/v1/agent/peer-relay"

// PeerRelay is a relay machine as the others' maps carry it (Self.Relays):
// its WireGuard key (binds to it are authenticated with a key derived from
// it) and the addresses of its WireGuard UDP socket, which it relays on.
type PeerRelay struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	PublicKey string   `json:"public_key"`
	Endpoints []string `json:"endpoints,omitempty"`
}

// PeerRelayCheck names two machines by their WireGuard keys (base64).
type PeerRelayCheck struct {
	A string `json:"a"`
	B string `json:"b"`
}
