package fleet

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// FuzzValidateEnroll: whatever an enrollment request holds, validation
// either refuses it with a 4xx protocol error or yields a valid machine
// name.
func FuzzValidateEnroll(f *testing.F) {
	f.Add([]byte(`{"token":"wfe_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=","hostname":"h","os":"linux","arch":"amd64","agent_version":"1"}`))
	f.Add([]byte(`{"name":"<script>"}`))
	f.Add([]byte(`{"endpoints":["[::1]:1","1.2.3.4:0"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req wire.EnrollRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		e, err := validateEnroll(&req)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || we.Code.Status() >= 500 {
				t.Fatalf("validation error is not a 4xx protocol error: %v", err)
			}
			return
		}
		if err := wire.ValidateName(e.Name); err != nil {
			t.Fatalf("accepted request yields invalid machine name %q: %v", e.Name, err)
		}
	})
}
