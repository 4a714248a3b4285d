#include "tools/indexbench/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace vista::indexbench {
namespace {

// Okabe-Ito colours (distinguishable with the common colour-vision deficiencies).
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#000000"};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

constexpr double kLeft = 80, kRight = 270, kTop = 70, kBottom = 60, kInset = 10;

std::string escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// Tick label for a value on an axis whose ticks are `step` apart.
std::string tick_text(double v, double step) {
  char buf[32];
  const int decimals = step >= 1 ? 0 : std::min(6, static_cast<int>(std::ceil(-std::log10(step))));
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// 1, 2, 5, 10, 20, 50, 100, ..., 1k, 2k, 5k, 10k, ...
std::string log_tick_text(double v) {
  char buf[32];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%gM", v / 1e6);
  } else if (v >= 1e3) {
    std::snprintf(buf, sizeof buf, "%gk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%g", v);
  }
  return buf;
}

double nice_step(double range, int target_ticks) {
  if (!(range > 0)) return 1;
  const double raw = range / target_ticks;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return nice * mag;
}

bool drawable(const PlotPoint& p, bool log_y) {
  return std::isfinite(p.x) && std::isfinite(p.y) && (!log_y || p.y > 0);
}

}  // namespace

std::string render_svg_chart(const std::vector<PlotSeries>& series, const PlotOptions& o) {
  const double w = o.width, h = o.height;
  const double plot_w = w - kLeft - kRight, plot_h = h - kTop - kBottom;

  // Data ranges.
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo;
  double y_lo = x_lo, y_hi = -x_lo;
  for (const auto& s : series) {
    for (const auto& p : s.points) {
      if (!drawable(p, o.log_y)) continue;
      x_lo = std::min(x_lo, p.x);
      x_hi = std::max(x_hi, p.x);
      y_lo = std::min(y_lo, p.y);
      y_hi = std::max(y_hi, p.y);
    }
  }
  const bool empty = !(x_lo <= x_hi);
  if (o.x_min < o.x_max) {
    x_lo = o.x_min;
    x_hi = o.x_max;
  } else if (empty) {
    x_lo = 0;
    x_hi = 1;
  }
  if (empty) {
    y_lo = o.log_y ? 1 : 0;
    y_hi = o.log_y ? 10 : 1;
  }
  if (x_hi - x_lo <= 0) {
    x_lo -= 0.5;
    x_hi += 0.5;
  }
  const double x_step = nice_step(x_hi - x_lo, 8);
  if (!(o.x_min < o.x_max)) {
    x_lo = std::floor(x_lo / x_step) * x_step;
    x_hi = std::ceil(x_hi / x_step) * x_step;
  }

  double y_step = 0;
  if (o.log_y) {
    y_lo = std::pow(10.0, std::floor(std::log10(y_lo)));
    y_hi = std::pow(10.0, std::ceil(std::log10(y_hi)));
    if (y_hi <= y_lo) y_hi = y_lo * 10;
  } else {
    if (y_hi - y_lo <= 0) {
      y_lo -= 0.5;
      y_hi += 0.5;
    }
    y_step = nice_step(y_hi - y_lo, 8);
    y_lo = std::floor(y_lo / y_step) * y_step;
    y_hi = std::ceil(y_hi / y_step) * y_step;
  }

  // Data map to the plot area less an inset, so markers at the range's ends stay whole.
  auto px = [&](double x) {
    return kLeft + kInset + (x - x_lo) / (x_hi - x_lo) * (plot_w - 2 * kInset);
  };
  auto py = [&](double y) {
    const double t =
        o.log_y ? (std::log10(y) - std::log10(y_lo)) / (std::log10(y_hi) - std::log10(y_lo))
                : (y - y_lo) / (y_hi - y_lo);
    return kTop + kInset + (1 - t) * (plot_h - 2 * kInset);
  };

  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" << o.width
      << "\" height=\"" << o.height << "\" viewBox=\"0 0 " << o.width << " " << o.height
      << "\" font-family=\"Helvetica, Arial, sans-serif\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg << "<text x=\"" << num(w / 2) << "\" y=\"28\" text-anchor=\"middle\" font-size=\"18\">"
      << escape(o.title) << "</text>\n";
  if (!o.subtitle.empty()) {
    svg << "<text x=\"" << num(w / 2)
        << "\" y=\"50\" text-anchor=\"middle\" font-size=\"12\" fill=\"#555\">"
        << escape(o.subtitle) << "</text>\n";
  }

  // Grid and ticks.
  svg << "<g stroke=\"#ddd\" stroke-width=\"1\">\n";
  std::ostringstream labels;
  for (double x = x_lo; x <= x_hi + x_step * 1e-6; x += x_step) {
    svg << "<line x1=\"" << num(px(x)) << "\" y1=\"" << num(kTop) << "\" x2=\"" << num(px(x))
        << "\" y2=\"" << num(kTop + plot_h) << "\"/>\n";
    labels << "<text x=\"" << num(px(x)) << "\" y=\"" << num(kTop + plot_h + 18)
           << "\" text-anchor=\"middle\" font-size=\"12\">" << tick_text(x, x_step) << "</text>\n";
  }
  if (o.log_y) {
    const int decades = static_cast<int>(std::lround(std::log10(y_hi / y_lo)));
    for (double d = y_lo; d <= y_hi * 1.000001; d *= 10) {
      for (int m : {1, 2, 5}) {
        const double y = d * m;
        if (y > y_hi * 1.000001) break;
        const bool major = m == 1;
        svg << "<line x1=\"" << num(kLeft) << "\" y1=\"" << num(py(y)) << "\" x2=\""
            << num(kLeft + plot_w) << "\" y2=\"" << num(py(y)) << "\""
            << (major ? "" : " stroke-dasharray=\"2,3\"") << "/>\n";
        if (major || decades <= 3) {
          labels << "<text x=\"" << num(kLeft - 8) << "\" y=\"" << num(py(y) + 4)
                 << "\" text-anchor=\"end\" font-size=\"12\">" << log_tick_text(y) << "</text>\n";
        }
      }
    }
  } else {
    for (double y = y_lo; y <= y_hi + y_step * 1e-6; y += y_step) {
      svg << "<line x1=\"" << num(kLeft) << "\" y1=\"" << num(py(y)) << "\" x2=\""
          << num(kLeft + plot_w) << "\" y2=\"" << num(py(y)) << "\"/>\n";
      labels << "<text x=\"" << num(kLeft - 8) << "\" y=\"" << num(py(y) + 4)
             << "\" text-anchor=\"end\" font-size=\"12\">" << tick_text(y, y_step) << "</text>\n";
    }
  }
  svg << "</g>\n" << labels.str();
  svg << "<rect x=\"" << num(kLeft) << "\" y=\"" << num(kTop) << "\" width=\"" << num(plot_w)
      << "\" height=\"" << num(plot_h) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  svg << "<text x=\"" << num(kLeft + plot_w / 2) << "\" y=\"" << num(h - 15)
      << "\" text-anchor=\"middle\" font-size=\"14\">" << escape(o.x_label) << "</text>\n";
  svg << "<text transform=\"translate(20," << num(kTop + plot_h / 2)
      << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">" << escape(o.y_label)
      << "</text>\n";

  // Curves, clipped to the plot area.
  svg << "<defs><clipPath id=\"plot\"><rect x=\"" << num(kLeft) << "\" y=\"" << num(kTop)
      << "\" width=\"" << num(plot_w) << "\" height=\"" << num(plot_h)
      << "\"/></clipPath></defs>\n<g clip-path=\"url(#plot)\">\n";
  for (const auto& s : series) {
    const char* colour = kPalette[((s.color % kPaletteSize) + kPaletteSize) % kPaletteSize];
    std::ostringstream path;
    int drawn = 0;
    for (const auto& p : s.points) {
      if (!drawable(p, o.log_y)) continue;
      path << (drawn++ ? " " : "") << num(px(p.x)) << "," << num(py(p.y));
    }
    if (drawn == 0) continue;
    svg << "<g>\n<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\""
        << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << " points=\"" << path.str() << "\"/>\n";
    for (const auto& p : s.points) {
      if (!drawable(p, o.log_y)) continue;
      svg << "<circle cx=\"" << num(px(p.x)) << "\" cy=\"" << num(py(p.y)) << "\" r=\"3.5\" fill=\""
          << (s.dashed ? "white" : colour) << "\" stroke=\"" << colour << "\">";
      if (!p.tooltip.empty()) svg << "<title>" << escape(p.tooltip) << "</title>";
      svg << "</circle>\n";
      if (!p.label.empty()) {
        svg << "<text x=\"" << num(px(p.x) + 5) << "\" y=\"" << num(py(p.y) - 6)
            << "\" font-size=\"10\" fill=\"" << colour << "\">" << escape(p.label) << "</text>\n";
      }
    }
    svg << "</g>\n";
  }
  svg << "</g>\n";

  // Legend.
  double ly = kTop + 10;
  const double lx = kLeft + plot_w + 20;
  for (const auto& s : series) {
    const char* colour = kPalette[((s.color % kPaletteSize) + kPaletteSize) % kPaletteSize];
    svg << "<line x1=\"" << num(lx) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(lx + 28)
        << "\" y2=\"" << num(ly) << "\" stroke=\"" << colour << "\" stroke-width=\"2\""
        << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << "/>\n"
        << "<circle cx=\"" << num(lx + 14) << "\" cy=\"" << num(ly) << "\" r=\"3.5\" fill=\""
        << (s.dashed ? "white" : colour) << "\" stroke=\"" << colour << "\"/>\n"
        << "<text x=\"" << num(lx + 36) << "\" y=\"" << num(ly + 4) << "\" font-size=\"12\">"
        << escape(s.name) << "</text>\n";
    ly += 20;
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace vista::indexbench
