//! `cargo xtask bench boot`'s chart: grouped bars (one group per variant,
//! one bar per measured series) at the median, whiskers from the smallest
//! to the largest value, and horizontal reference lines (direct boot).
//!
//! Drawn with plotters into an RGB buffer and written with the png crate
//! (no image-processing crate). Text needs a TrueType font, read at run
//! time from Debian's `fonts-dejavu-core` (`.ci/deps` installs it).

use crate::bench_report::Spread;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// The font the chart's text is drawn with.
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Chart size in pixels.
const SIZE: (u32, u32) = (1280, 720);

/// Bar colours, one per series (a blue and an orange that stay apart for
/// the common colour-vision deficiencies); reference lines use the same,
/// darker.
const COLOURS: [RGBColor; 3] =
    [RGBColor(0x44, 0x77, 0xaa), RGBColor(0xee, 0x77, 0x33), RGBColor(0x22, 0x88, 0x33)];

/// What to draw.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The title above the chart.
    pub title: String,
    /// The y axis's description.
    pub y_desc: String,
    /// One group of bars per category (variant), left to right.
    pub categories: Vec<String>,
    /// `(name, one value per category)`: a bar per category; `None`
    /// leaves a gap.
    pub series: Vec<(String, Vec<Option<Spread>>)>,
    /// `(name, y, series index)`: a horizontal line across the chart in
    /// that series' colour, darker.
    pub references: Vec<(String, f64, usize)>,
}

/// Registers [`FONT`] as plotters' sans-serif font (once per process);
/// says which package to install when it is missing.
pub fn load_font() -> Result<(), String> {
    static LOADED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    LOADED
        .get_or_init(|| {
            let bytes = std::fs::read(FONT).map_err(|e| {
                format!(
                    "the chart needs the font {FONT} ({e}): install Debian's fonts-dejavu-core \
                     (.ci/deps does)"
                )
            })?;
            // plotters keeps fonts for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| format!("{FONT} is not a font plotters can read"))
        })
        .clone()
}

fn darker(c: RGBColor) -> RGBColor {
    RGBColor(c.0 / 2, c.1 / 2, c.2 / 2)
}

/// Draws `chart` and writes it to `path` as a PNG.
pub fn write_png(chart: &Chart, path: &Path) -> Result<(), String> {
    load_font()?;
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    draw(chart, &mut rgb).map_err(|e| format!("drawing the chart: {e}"))?;
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let err = |e: png::EncodingError| format!("{}: {e}", path.display());
    let mut writer = enc.write_header().map_err(err)?;
    writer.write_image_data(&rgb).map_err(err)?;
    writer.finish().map_err(err)
}

fn draw(chart: &Chart, rgb: &mut [u8]) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(rgb, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let n = chart.categories.len().max(1) as f64;
    let top = chart
        .series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().map(|s| s.max))
        .chain(chart.references.iter().map(|r| r.1))
        .fold(0.0f64, f64::max);
    // Room above the tallest whisker for its value and for the legend.
    let y_max = if top > 0.0 { top * 1.25 } else { 1.0 };
    let mut c = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n, 0.0..y_max)?;
    c.configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(0)
        .x_label_formatter(&|_| String::new())
        .y_desc(chart.y_desc.as_str())
        .y_label_formatter(&|y| format!("{y:.1}"))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;

    let k = chart.series.len().max(1) as f64;
    // Each category takes a unit of x; its bars share 80 % of it.
    let bar = 0.8 / k;
    for (j, (name, values)) in chart.series.iter().enumerate() {
        let colour = COLOURS[j % COLOURS.len()];
        let x0 = |i: usize| i as f64 + 0.1 + j as f64 * bar;
        let bars = values.iter().enumerate().filter_map(|(i, s)| {
            let s = (*s)?;
            Some(Rectangle::new(
                [(x0(i) + bar * 0.05, 0.0), (x0(i) + bar * 0.95, s.median)],
                colour.filled(),
            ))
        });
        c.draw_series(bars)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
        for (i, s) in values.iter().enumerate() {
            let Some(s) = *s else { continue };
            let mid = x0(i) + bar / 2.0;
            let cap = bar * 0.2;
            let style = BLACK.stroke_width(2);
            c.draw_series([
                PathElement::new(vec![(mid, s.min), (mid, s.max)], style),
                PathElement::new(vec![(mid - cap, s.min), (mid + cap, s.min)], style),
                PathElement::new(vec![(mid - cap, s.max), (mid + cap, s.max)], style),
            ])?;
            let label = Text::new(
                format!("{:.2}", s.median),
                (0, -6),
                TextStyle::from(("sans-serif", 14).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            );
            c.draw_series(std::iter::once(EmptyElement::at((mid, s.max)) + label))?;
        }
    }
    for (name, y, j) in &chart.references {
        let colour = darker(COLOURS[j % COLOURS.len()]);
        c.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, *y), (n, *y)],
            colour.stroke_width(2),
        )))?
        .label(name.as_str())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2)));
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()?;

    // Category names under their groups, on the drawing area itself (the
    // x axis's own labels sit at round numbers, not at the groups).
    let font =
        TextStyle::from(("sans-serif", 17).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    for (i, name) in chart.categories.iter().enumerate() {
        let (px, py) = c.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw(&Text::new(name.as_str(), (px, py + 10), font.clone()))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chart draws and encodes (where the font is installed; the
    /// message says what is missing otherwise).
    #[test]
    fn draws_a_png() {
        if !Path::new(FONT).exists() {
            assert!(load_font().unwrap_err().contains("fonts-dejavu-core"));
            return;
        }
        let s = |m: f64| Some(Spread { median: m, min: m * 0.9, max: m * 1.2 });
        let chart = Chart {
            title: "test".into(),
            y_desc: "seconds".into(),
            categories: vec!["direct".into(), "vmfw".into(), "OVMF".into()],
            series: vec![
                ("kernel".into(), vec![s(4.0), s(4.5), None]),
                ("init".into(), vec![s(5.0), s(5.5), s(9.0)]),
            ],
            references: vec![("direct".into(), 5.0, 1)],
        };
        let dir = crate::build::target_dir().join("bench");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chart-unit-test.png");
        write_png(&chart, &path).unwrap();
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let _ = std::fs::remove_file(&path);
    }
}
