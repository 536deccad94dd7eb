import {
  IconArrowsSplit,
  IconBolt,
  IconBrain,
  IconClock,
  IconCode,
  IconDatabase,
  IconFileText,
  IconGitMerge,
  IconGlobe,
  IconHandStop,
  IconMail,
  IconPlayerPause,
  IconRepeat,
  IconScan,
  IconSitemap,
  IconTransform,
  IconVariable,
  IconWebhook,
  type Icon,
} from '@tabler/icons-react';

const NAMED: Record<string, Icon> = {
  globe: IconGlobe,
  http: IconGlobe,
  branch: IconArrowsSplit,
  signpost: IconArrowsSplit,
  'git-branch': IconArrowsSplit,
  if: IconArrowsSplit,
  switch: IconArrowsSplit,
  merge: IconGitMerge,
  clock: IconClock,
  wait: IconClock,
  code: IconCode,
  database: IconDatabase,
  file: IconFileText,
  text: IconFileText,
  ocr: IconScan,
  scan: IconScan,
  brain: IconBrain,
  llm: IconBrain,
  mail: IconMail,
  map: IconRepeat,
  repeat: IconRepeat,
  subworkflow: IconSitemap,
  workflow: IconSitemap,
  human: IconHandStop,
  hand: IconHandStop,
  signal: IconPlayerPause,
  set: IconVariable,
  variable: IconVariable,
  transform: IconTransform,
  webhook: IconWebhook,
};

export function NodeIcon({ icon, type, size = 16 }: { icon?: string; type: string; size?: number }) {
  if (icon?.startsWith('data:image/')) return <img src={icon} alt="" />;
  const capability = type.split('/').pop() ?? '';
  const Found = (icon && NAMED[icon]) || NAMED[capability] || IconBolt;
  return <Found size={size} />;
}
