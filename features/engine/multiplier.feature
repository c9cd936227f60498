# language: zh-CN
功能: 倍数(multiplier):按农户颜色(三色分类)加权
  为红色户办事比为黄色户办事分值更高;倍数后的分值按步长取整。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | red    |
      | H2   | G1   | yellow |
      | H3   | G2   | orange |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | M1   | H2   | 是   |
    并且 规则文件如下:
      """
      point_types:
        - {key: work, name: 零基积分, holder: person, step: 0.5, period: year}
      event_types:
        - {key: resolved, name: 问题办结, subject: person, household: true}
      rules:
        - id: R1
          name: 问题办结
          point_type: work
          event: resolved
          points: {fixed: 3}
          multiplier: {by: tier, values: {yellow: 1, orange: 1.5, red: 2}}
      """

  场景: 红色户 ×2,橙色户 ×1.5(4.5 分),黄色户不加权
    当 录入以下事件:
      | 编号 | 类型     | 时间             | 村民 | 农户 |
      | r1   | resolved | 2026-03-01 09:00 | M1   | H1   |
      | r2   | resolved | 2026-03-01 10:00 | M1   | H3   |
      | r3   | resolved | 2026-03-01 11:00 | M1   | H2   |
    那么 事件 r1 按规则 R1 记 6 分,说明为:
      """
      基础分 +3
      农户分类为红色,× 2 = +6
      """
    并且 事件 r2 按规则 R1 记 4.5 分,说明为:
      """
      基础分 +3
      农户分类为橙色,× 1.5 = +4.5
      """
    并且 事件 r2 按规则 R1 的英文说明为:
      """
      base points +3
      household tier orange, × 1.5 = +4.5
      """
    并且 事件 r3 按规则 R1 记 3 分,说明为:
      """
      基础分 +3
      """
    并且 M1 的 work 余额为 13.5

  场景: 涉及农户的事件必须写明农户
    当 录入以下事件:
      | 编号 | 类型     | 时间             | 村民 |
      | r1   | resolved | 2026-03-01 09:00 | M1   |
    那么 事件 r1 被退回,提示:
      """
      r1 [household]: 缺少字段 “household”
      r1 [household]: field 'household' is missing
      """
