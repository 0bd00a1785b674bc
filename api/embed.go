// Package api holds the gateway's OpenAPI document, served at /openapi.yaml and checked against
// the OneBot action table by internal/gateway's tests and the Satori method table by
// internal/satori's.
package api

import _ "embed"

// OpenAPI is api/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
