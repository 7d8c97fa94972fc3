//! The SSD1306 on a Pico or a Pico 2, and the end of the board's work: both boards' firmware
//! includes this file (the HALs differ around it, not the display).

use gan_app::{display, Frame};
use rtt_target::rprintln;
use ssd1306::mode::{BufferedGraphicsMode, DisplayConfig};
use ssd1306::prelude::*;
use ssd1306::Ssd1306;

/// The SSD1306, if one answered at start-up: without one the images are still made and timed,
/// and the log says so.
pub struct Screen<DI> {
    oled: Ssd1306<DI, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>,
    present: bool,
}

impl<DI: WriteOnlyDataCommand> Screen<DI> {
    pub fn new(interface: DI) -> Self {
        let mut oled = Ssd1306::new(interface, DisplaySize128x64, DisplayRotation::Rotate0)
            .into_buffered_graphics_mode();
        let present = match oled.init() {
            Ok(()) => true,
            Err(e) => {
                rprintln!("no SSD1306 answers on I2C0 (GP4/GP5): {:?}", e);
                false
            }
        };
        Screen { oled, present }
    }

    /// Logs the frame and draws it (between a walk's keyframes only the image, so that the
    /// flush sends 448 bytes instead of 1,024).
    pub fn show(&mut self, frame: &Frame<'_>) {
        rprintln!(
            "frame {} class {:?} step {:?}: {}",
            frame.index,
            frame.class,
            frame.walk_step,
            frame.timing
        );
        if self.present {
            // Drawing into the buffer cannot fail; flushing can (a loose wire).
            let _ = frame.draw_update(&mut self.oled);
            if let Err(e) = self.oled.flush() {
                rprintln!("display flush failed: {:?}", e);
            }
        }
    }

    /// Logs the error, shows it on the display and stops for good.
    pub fn stop(&mut self, e: &gan_app::Error) -> ! {
        rprintln!("error: {}", e);
        if self.present {
            let _ = display::draw_message(&mut self.oled, e);
            let _ = self.oled.flush();
        }
        halt()
    }
}

/// Stops here for good (the display keeps showing the last frame or the error).
pub fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
