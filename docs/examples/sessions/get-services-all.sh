# Every example applied at once: one Service of each type.
ksl get services -f docs/examples/
