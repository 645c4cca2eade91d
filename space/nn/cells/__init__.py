"""The torch module of every cell family: ``space/nn/cells/<kind>.py`` for each kind of
:data:`space.cells.FAMILIES`, registered with ``@register_cell("<kind>")``.
:func:`space.nn.registry.cell_builders` imports them by that name, so none is listed here."""
