package tools

import (
	"github.com/matrix-onebot/gateway/test/harness"

	"context"
	"fmt"
	"path/filepath"
)

// OpenAPIRequirements pins openapi-spec-validator and Schemathesis, relative to the repository root.
const OpenAPIRequirements = "test/harness/requirements-openapi.txt"

// OpenAPITools are the spec checkers installed in <repo>/.cache/venv-openapi.
type OpenAPITools struct {
	Python       string // the venv's python
	Validator    string // openapi-spec-validator
	Schemathesis string // schemathesis
}

// EnsureOpenAPITools installs (once) the pinned OpenAPI tools and returns their paths.
func EnsureOpenAPITools(ctx context.Context) (OpenAPITools, error) {
	python, err := harness.EnsureVenv(ctx, "openapi", OpenAPIRequirements)
	if err != nil {
		return OpenAPITools{}, fmt.Errorf("failed to install the OpenAPI tools: %w", err)
	}
	bin := filepath.Dir(python)
	return OpenAPITools{
		Python:       python,
		Validator:    filepath.Join(bin, "openapi-spec-validator"),
		Schemathesis: filepath.Join(bin, "schemathesis"),
	}, nil
}
