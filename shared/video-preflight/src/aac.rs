//! AAC AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1), read far enough to tell
//! AAC-LC from HE-AAC and to get the channel configuration.
//!
//! No crate gives a full SBR/PS verdict from the raw config (research/mp4-crates.md),
//! and X rejects HE-AAC, so this is hand-written. It handles the explicit forms:
//! AOT 5/29 first, and an LC config followed by the 0x2b7 sync extension.
//! Implicit SBR (signalled only in the bitstream) cannot be seen here.

/// What the check needs from an AudioSpecificConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AacConfig {
    /// The core object type: 2 for AAC-LC, also when SBR/PS wrap it.
    pub object_type: u8,
    /// Spectral band replication: HE-AAC (v1).
    pub sbr: bool,
    /// Parametric stereo: HE-AAC v2.
    pub ps: bool,
    /// Core sampling rate in Hz, `None` for a reserved index.
    pub sample_rate: Option<u32>,
    /// 0 means "defined by a program config element".
    pub channel_configuration: u8,
}

impl AacConfig {
    /// How X would name it; X accepts only "AAC-LC".
    pub fn profile_name(&self) -> String {
        match (self.object_type, self.sbr, self.ps) {
            (_, _, true) => "HE-AAC v2 (SBR+PS)".into(),
            (_, true, false) => "HE-AAC (SBR)".into(),
            (1, ..) => "AAC Main".into(),
            (2, ..) => "AAC-LC".into(),
            (3, ..) => "AAC SSR".into(),
            (4, ..) => "AAC LTP".into(),
            (23, ..) => "AAC-LD".into(),
            (39, ..) => "AAC-ELD".into(),
            (42, ..) => "xHE-AAC (USAC)".into(),
            (n, ..) => format!("MPEG-4 audio object type {n}"),
        }
    }

    pub fn is_lc(&self) -> bool {
        self.object_type == 2 && !self.sbr && !self.ps
    }

    /// Channel count and layout name for a channel configuration, `None` for
    /// 0 (PCE) and the reserved values.
    pub fn channels(&self) -> Option<(u8, &'static str)> {
        Some(match self.channel_configuration {
            1 => (1, "mono"),
            2 => (2, "stereo"),
            3 => (3, "3.0"),
            4 => (4, "4.0"),
            5 => (5, "5.0"),
            6 => (6, "5.1"),
            7 => (8, "7.1"),
            11 => (7, "6.1"),
            12 => (8, "7.1"),
            13 => (24, "22.2"),
            14 => (8, "7.1 with top front"),
            _ => return None,
        })
    }
}

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn left(&self) -> usize {
        self.data.len() * 8 - self.pos
    }

    fn read(&mut self, n: usize) -> Option<u32> {
        debug_assert!(n <= 32);
        if self.left() < n {
            return None;
        }
        let mut v = 0u32;
        for _ in 0..n {
            let bit = (self.data[self.pos / 8] >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(v)
    }

    fn object_type(&mut self) -> Option<u8> {
        let aot = self.read(5)?;
        let aot = if aot == 31 { 32 + self.read(6)? } else { aot };
        Some(aot as u8)
    }

    fn sample_rate(&mut self) -> Option<Option<u32>> {
        let index = self.read(4)?;
        Some(if index == 0xf {
            Some(self.read(24)?)
        } else {
            SAMPLE_RATES.get(index as usize).copied()
        })
    }
}

/// Parses an AudioSpecificConfig; `None` if it ends before the fields that
/// decide the verdict.
pub(crate) fn parse(raw: &[u8]) -> Option<AacConfig> {
    let mut r = Bits { data: raw, pos: 0 };
    let mut object_type = r.object_type()?;
    let sample_rate = r.sample_rate()?;
    let channel_configuration = r.read(4)? as u8;
    let mut config = AacConfig {
        object_type,
        sbr: false,
        ps: false,
        sample_rate,
        channel_configuration,
    };

    // Explicit hierarchical signalling: the SBR/PS wrapper comes first.
    if object_type == 5 || object_type == 29 {
        config.sbr = true;
        config.ps = object_type == 29;
        r.sample_rate()?; // extensionSamplingFrequency
        object_type = r.object_type()?;
        config.object_type = object_type;
        if object_type == 22 {
            r.read(4)?; // extensionChannelConfiguration
        }
        // Already known to be HE-AAC: nothing later can change the verdict.
        return Some(config);
    }

    // GASpecificConfig, only as far as needed to reach the sync extension.
    if !matches!(
        object_type,
        1 | 2 | 3 | 4 | 6 | 7 | 17 | 19 | 20 | 21 | 22 | 23
    ) {
        return Some(config);
    }
    r.read(1)?; // frameLengthFlag
    if r.read(1)? == 1 {
        r.read(14)?; // coreCoderDelay
    }
    let extension_flag = r.read(1)?;
    if channel_configuration == 0 {
        // A program_config_element follows; the check rejects config 0 anyway.
        return Some(config);
    }
    if object_type == 6 || object_type == 20 {
        r.read(3)?; // layerNr
    }
    if extension_flag == 1 {
        if object_type == 22 {
            r.read(16)?; // numOfSubFrame, layer_length
        }
        if matches!(object_type, 17 | 19 | 20 | 23) {
            r.read(3)?; // resilience flags
        }
        r.read(1)?; // extensionFlag3
    }
    if matches!(object_type, 17 | 19..=27) {
        let ep_config = r.read(2)?;
        if ep_config >= 2 {
            // ErrorProtectionSpecificConfig: error-resilient AAC, not LC anyway.
            return Some(config);
        }
    }

    // Backward-compatible signalling: an LC core, then 0x2b7 + AOT 5 +
    // sbrPresentFlag. ffmpeg writes this extension with sbrPresentFlag = 0 on
    // plain LC, so only the flag counts, not the extension's presence.
    if r.left() >= 16 && r.read(11) == Some(0x2b7) {
        // extensionAudioObjectType 5 (SBR) or 22 (ER BSAC), then sbrPresentFlag.
        let extension = r.object_type();
        if matches!(extension, Some(5 | 22)) && r.read(1) == Some(1) {
            config.sbr = true;
            // For AOT 5 a PS flag may follow the SBR sampling frequency.
            if extension == Some(5)
                && r.sample_rate().is_some()
                && r.left() >= 12
                && r.read(11) == Some(0x548)
                && r.read(1) == Some(1)
            {
                config.ps = true;
            }
        }
    }
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lc_stereo_44100() {
        // 0x12 0x10: AOT 2, index 4 (44100), channels 2.
        let c = parse(&[0x12, 0x10]).unwrap();
        assert!(c.is_lc());
        assert_eq!(c.sample_rate, Some(44100));
        assert_eq!(c.channels(), Some((2, "stereo")));
    }

    #[test]
    fn ffmpeg_lc_with_sbr_extension_flag_zero_is_still_lc() {
        // ffmpeg's LC mono 48 kHz with 0x2b7, AOT 5, sbrPresentFlag = 0.
        let c = parse(&[0x11, 0x88, 0x56, 0xe5, 0x00]).unwrap();
        assert!(c.is_lc(), "{c:?}");
        assert_eq!(c.channels(), Some((1, "mono")));
    }

    #[test]
    fn explicit_he_aac_aot5_first() {
        // AOT 5, index 6 (24000), channels 2, ext index 3 (48000), AOT 2.
        let c = parse(&[0x2b, 0x11, 0x88, 0x00]).unwrap();
        assert!(c.sbr && !c.ps);
        assert_eq!(c.object_type, 2);
        assert!(!c.is_lc());
        assert_eq!(c.profile_name(), "HE-AAC (SBR)");
    }

    #[test]
    fn explicit_he_aac_v2_aot29_first() {
        // AOT 29 = 0b11101, index 6, channels 1, ext index 3, AOT 2.
        let c = parse(&[0xeb, 0x09, 0x88, 0x00]).unwrap();
        assert!(c.sbr && c.ps);
        assert_eq!(c.profile_name(), "HE-AAC v2 (SBR+PS)");
    }

    #[test]
    fn backward_compatible_he_aac_via_sync_extension() {
        // LC 24000 stereo, then 0x2b7, AOT 5, sbrPresentFlag 1, index 3.
        let c = parse(&[0x13, 0x10, 0x56, 0xe5, 0x98]).unwrap();
        assert!(c.sbr, "{c:?}");
        assert!(!c.is_lc());
    }

    #[test]
    fn five_one_and_pce() {
        assert_eq!(parse(&[0x11, 0xb0]).unwrap().channels(), Some((6, "5.1")));
        assert_eq!(parse(&[0x11, 0x80]).unwrap().channels(), None);
    }

    #[test]
    fn escaped_object_type_and_short_input() {
        // AOT 31 escape + 6 bits 10 = AOT 42 (USAC).
        let c = parse(&[0xf9, 0x46, 0x40, 0x00]).unwrap();
        assert_eq!(c.object_type, 42);
        assert!(parse(&[]).is_none());
        assert!(parse(&[0x12]).is_none());
    }
}
