// Package embed is a fixture for the shape test: promoted methods count on the outer type.
package embed

type Facet struct{}

func (Facet) A()  {}
func (*Facet) B() {}

type Outer struct{ Facet }

func (Outer) C() {}

type Small interface{ X() }

type Iface interface {
	Small
	Y()
	Z()
}
