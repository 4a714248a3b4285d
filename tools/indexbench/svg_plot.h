// A small SVG line-chart writer for benchmark curves (no plotting dependency).
//
// One chart: linear x axis, linear or base-10 logarithmic y axis, one polyline per series with a
// marker and an optional short label at each point, and a legend. Series sharing a colour index
// get the same colour, so a solid and a dashed curve can show two variants of one thing. Output
// is a standalone SVG 1.1 document that browsers and GitHub render.
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <vector>

namespace vista::indexbench {

struct PlotPoint {
  double x = 0;
  double y = 0;
  std::string label;    // drawn beside the marker (e.g. "ef 64"); empty: none
  std::string tooltip;  // shown on hover; empty: none
};

struct PlotSeries {
  std::string name;               // legend text
  std::vector<PlotPoint> points;  // drawn in this order
  int color = 0;                  // index into a fixed colour-blind-safe palette (wraps)
  bool dashed = false;
};

struct PlotOptions {
  std::string title;
  std::string subtitle;  // smaller second line; empty: none
  std::string x_label;
  std::string y_label;
  bool log_y = false;  // points with y <= 0 are skipped on a log axis
  // Fixed x range; when min >= max the range is taken from the data.
  double x_min = 0;
  double x_max = 0;
  int width = 960;
  int height = 600;
};

// Renders the chart. Non-finite points are skipped; an empty chart (no drawable point) still
// yields a valid SVG with axes and title.
std::string render_svg_chart(const std::vector<PlotSeries>& series, const PlotOptions& options);

}  // namespace vista::indexbench
