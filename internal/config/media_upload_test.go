package config

import (
	"testing"
	"time"
)

func TestMediaUploadTTL(t *testing.T) {
	if got := mustLoad(t, withBots()).Gateway.MediaUploadTTL; got != 5*time.Minute {
		t.Errorf("default GATEWAY_MEDIA_UPLOAD_TTL = %v, want 5m", got)
	}
	if got := mustLoad(t, withBots("GATEWAY_MEDIA_UPLOAD_TTL=90s")).Gateway.MediaUploadTTL; got != 90*time.Second {
		t.Errorf("GATEWAY_MEDIA_UPLOAD_TTL=90s gives %v", got)
	}
	for _, bad := range []string{"0s", "-1m", "soon"} {
		_, err := Load(withBots("GATEWAY_MEDIA_UPLOAD_TTL=" + bad))
		wantProblems(t, err, 1, "GATEWAY_MEDIA_UPLOAD_TTL")
	}
}
