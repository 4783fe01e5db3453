package fleet

import (
	"context"
	"io"

	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/releasestore"
)

func (s *Service) releases() (*releasestore.Store, error) {
	if s.cfg.Releases == nil {
		return nil, wire.Errorf(wire.CodeNotFound, "this server does not host releases")
	}
	return s.cfg.Releases, nil
}

// UploadReleaseFile stores a release binary and audits its hash and size.
func (s *Service) UploadReleaseFile(ctx context.Context, a Actor, name string, r io.Reader) (string, int64, error) {
	rs, err := s.releases()
	if err != nil {
		return "", 0, err
	}
	sum, n, err := rs.PutFile(name, r)
	if err != nil {
		return "", 0, err
	}
	_ = s.db.Audit(ctx, a, "release.upload", name, map[string]any{"sha256": sum, "size": n})
	return sum, n, nil
}

// PublishKeys stores the release root key and the signing-key set it
// vouches for.
func (s *Service) PublishKeys(ctx context.Context, a Actor, req wire.PublishKeysRequest) error {
	rs, err := s.releases()
	if err != nil {
		return err
	}
	if err := rs.PutKeys(req.RootPublicKey, []byte(req.KeysJSON), []byte(req.Signature)); err != nil {
		return err
	}
	_ = s.db.Audit(ctx, a, "release.keys", "", nil)
	return nil
}

// PublishManifest verifies and publishes a channel's signed manifest.
func (s *Service) PublishManifest(ctx context.Context, a Actor, channel string, req wire.PublishManifestRequest) (release.Manifest, error) {
	rs, err := s.releases()
	if err != nil {
		return release.Manifest{}, err
	}
	m, err := rs.PutManifest(channel, []byte(req.Manifest), []byte(req.Signature), req.AllowOlder)
	if err != nil {
		return release.Manifest{}, err
	}
	_ = s.db.Audit(ctx, a, "release.publish", m.Channel, map[string]any{"version": m.Version, "rollout": m.Rollout, "artifacts": len(m.Artifacts)})
	return m, nil
}

// PauseRollout pauses (or resumes) a channel's rollout.
func (s *Service) PauseRollout(ctx context.Context, a Actor, channel string, pause bool) error {
	rs, err := s.releases()
	if err != nil {
		return err
	}
	if err := rs.SetPaused(channel, pause); err != nil {
		return err
	}
	action := "release.resume"
	if pause {
		action = "release.pause"
	}
	_ = s.db.Audit(ctx, a, action, channel, nil)
	return nil
}
