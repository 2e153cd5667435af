"""Brand tokens: primary purple #660098 on neutral greys, light and dark."""

from reflex_base.components.component import ComponentStyle

PRIMARY = "#660098"
PRIMARY_SOFT = "rgba(102, 0, 152, 0.10)"
FONT = "Inter, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"

# Radix theme settings: the accent scale closest to #660098 is "purple"; exact brand colour
# is applied to primary buttons and the sidebar through PRIMARY.
THEME = {"accent_color": "purple", "gray_color": "mauve", "radius": "medium", "scaling": "100%"}

STYLE: ComponentStyle = {
    "font_family": FONT,
    "::selection": {"background_color": PRIMARY_SOFT},
}
