package releases

import (
	"strings"
	"testing"
)

// TestPublishRefusesNonSemverVersions: anti-rollback compares versions, so
// a version that is not a semantic version never gets published.
func TestPublishRefusesNonSemverVersions(t *testing.T) {
	s := NewStore(t.TempDir())
	for _, v := range []string{"1.2.3garbage", "v1.2.3", "1.2", "latest", "1.2.3-", "../1.2.3"} {
		_, err := Publish(s, t.TempDir(), "", PublishOptions{Channel: "stable", Version: v, Files: map[string]string{"linux/amd64": "/bin/true"}})
		if err == nil || !strings.Contains(err.Error(), "version") {
			t.Errorf("Publish(version %q) = %v, want a version error", v, err)
		}
	}
}
